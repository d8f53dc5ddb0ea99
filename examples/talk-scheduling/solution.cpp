#include <bits/stdc++.h>
using namespace std;

int main() {
    int n;
    if (scanf("%d", &n) != 1) return 0;
    vector<pair<long long, long long>> talks(n);  // (end, start)
    for (int i = 0; i < n; i++) {
        long long s, e;
        scanf("%lld %lld", &s, &e);
        talks[i] = {e, s};
    }
    sort(talks.begin(), talks.end());
    long long freeAt = -1;
    int count = 0;
    for (auto &p : talks) {
        if (p.second >= freeAt) {
            count++;
            freeAt = p.first;
        }
    }
    printf("%d\n", count);
    return 0;
}
