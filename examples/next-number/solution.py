x = int(input())
print(x + 1)
