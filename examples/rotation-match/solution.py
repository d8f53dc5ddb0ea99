import sys


def main():
    data = sys.stdin.read().split()
    s, t = data[0], data[1]
    if len(s) != len(t):
        print(-1)
        return
    # t is a rotation of s iff it occurs in s + s; the first occurrence
    # gives the smallest number of left rotations (always < len(s)).
    print((s + s).find(t))


main()
