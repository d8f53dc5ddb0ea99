#include <bits/stdc++.h>
using namespace std;

int main() {
    long long x;
    cin >> x;
    cout << x + 1 << endl;
    return 0;
}
