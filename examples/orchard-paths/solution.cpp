#include <bits/stdc++.h>
using namespace std;

int main() {
    const long long MOD = 1000000007LL;
    int h, w;
    if (scanf("%d %d", &h, &w) != 2) return 0;
    vector<string> grid(h);
    char buf[1105];
    for (int i = 0; i < h; i++) {
        scanf("%1100s", buf);
        grid[i] = buf;
    }
    vector<long long> dp(w, 0);
    for (int i = 0; i < h; i++) {
        long long left = 0;
        for (int j = 0; j < w; j++) {
            long long cur;
            if (grid[i][j] == '#') cur = 0;
            else if (i == 0 && j == 0) cur = 1;
            else cur = (dp[j] + left) % MOD;
            dp[j] = cur;
            left = cur;
        }
    }
    printf("%lld\n", dp[w - 1]);
    return 0;
}
