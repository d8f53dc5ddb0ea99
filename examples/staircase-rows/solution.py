import sys
from math import isqrt


def main():
    data = sys.stdin.buffer.read().split()
    t = int(data[0])
    out = []
    for i in range(1, t + 1):
        n = int(data[i])
        # largest k with k * (k + 1) / 2 <= n
        k = (isqrt(8 * n + 1) - 1) // 2
        out.append(str(k))
    sys.stdout.write("\n".join(out) + "\n")


main()
