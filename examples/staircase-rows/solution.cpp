#include <bits/stdc++.h>
using namespace std;

int main() {
    int t;
    if (scanf("%d", &t) != 1) return 0;
    while (t--) {
        unsigned long long n;
        scanf("%llu", &n);
        // largest k with k * (k + 1) / 2 <= n; k < 2e9 so k * (k + 1) fits in 64 bits
        unsigned long long lo = 0, hi = 2000000000ULL;
        while (lo < hi) {
            unsigned long long mid = (lo + hi + 1) / 2;
            if (mid * (mid + 1) / 2 <= n) lo = mid;
            else hi = mid - 1;
        }
        printf("%llu\n", lo);
    }
    return 0;
}
