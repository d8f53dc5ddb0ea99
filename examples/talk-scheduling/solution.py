import sys


def main():
    data = sys.stdin.buffer.read().split()
    n = int(data[0])
    talks = []
    for i in range(n):
        s = int(data[1 + 2 * i])
        e = int(data[2 + 2 * i])
        talks.append((e, s))
    talks.sort()
    count = 0
    free_at = -1
    for e, s in talks:
        if s >= free_at:
            count += 1
            free_at = e
    print(count)


main()
