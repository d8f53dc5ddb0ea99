import sys

MOD = 10 ** 9 + 7


def main():
    data = sys.stdin.read().split()
    h, w = int(data[0]), int(data[1])
    grid = data[2:2 + h]
    dp = [0] * w
    for i in range(h):
        row = grid[i]
        left = 0
        for j in range(w):
            if row[j] == '#':
                cur = 0
            elif i == 0 and j == 0:
                cur = 1
            else:
                cur = (dp[j] + left) % MOD
            dp[j] = cur
            left = cur
    print(dp[w - 1])


main()
