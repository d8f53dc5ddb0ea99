"""Large-scale sampling on Ray into a resumable sample store.

``candidate`` (the record and the Sampler protocol), ``model_sampler`` (the JAX model as a sampler),
``units`` (work units and their seeds), ``store`` (the Parquet store and its streaming reader),
``distributed`` (Ray actors and the driver: ``run_sampling``, behind ``alphacode sample``).
"""
