"""Compare a sharded forward/backward pass of a tiny model with the single-device one.

Run as ``python -m tests.helpers.sharded_forward data=2,fsdp=2,tensor=2 ...``; prints one JSON line
per mesh with the largest differences. Sets 8 fake CPU devices before importing JAX.
"""

from __future__ import annotations

import os
import sys

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
os.environ["JAX_PLATFORMS"] = "cpu"

import json  # noqa: E402

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec  # noqa: E402

from alphacode.model import get_config  # noqa: E402
from alphacode.model.sharding import make_mesh, parse_mesh, rules_for, shardings  # noqa: E402
from alphacode.model.transformer import EncoderDecoder  # noqa: E402

CONFIG = get_config("tiny", vocab_size=256, d_model=64, num_heads=4, num_kv_heads=2, head_dim=16, d_ff=128,
                    encoder_layers=1, decoder_layers=2)


def loss_fn(params, enc, dec_in, targets):
    logits = EncoderDecoder(CONFIG).apply({"params": params}, enc, dec_in)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, targets[..., None], axis=-1))


def main() -> None:
    rng = np.random.RandomState(0)
    enc = jnp.asarray(rng.randint(3, 256, (8, 16)), jnp.int32)
    dec = jnp.asarray(rng.randint(3, 256, (8, 13)), jnp.int32)
    dec_in, targets = dec[:, :-1], dec[:, 1:]
    model = EncoderDecoder(CONFIG)
    boxed = model.init(jax.random.PRNGKey(0), enc, dec_in)["params"]
    params = nn.unbox(boxed)
    ref_loss, ref_grads = jax.jit(jax.value_and_grad(loss_fn))(params, enc, dec_in, targets)
    for spec in sys.argv[1:]:
        sizes = parse_mesh(spec)
        mesh = make_mesh(sizes)
        rules = rules_for(CONFIG, sizes)
        param_sharding = shardings(boxed, mesh, rules)
        batch = NamedSharding(mesh, PartitionSpec(("data", "fsdp")))
        step = jax.jit(jax.value_and_grad(loss_fn), in_shardings=(param_sharding, batch, batch, batch),
                       out_shardings=(NamedSharding(mesh, PartitionSpec()), param_sharding))
        with mesh, nn.logical_axis_rules(rules):
            loss, grads = step(jax.device_put(params, param_sharding), enc, dec_in, targets)
        sharded_leaves = sum(1 for s in jax.tree.leaves(param_sharding) if any(s.spec))
        grad_diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads)))
        print(json.dumps({"mesh": sizes, "loss_diff": abs(float(loss) - float(ref_loss)), "grad_diff": grad_diff,
                          "sharded_parameters": sharded_leaves, "devices": len(mesh.devices.flat)}))


if __name__ == "__main__":
    main()
