// Prints the time of one Argon2id hash with taskhub's parameters (m = 19 MiB, t = 2, p = 1),
// the cost that bounds login throughput: at most cores / hash_time logins per second.
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  int rounds = argc > 1 ? std::atoi(argv[1]) : 20;
  std::vector<double> ms;
  char out[crypto_pwhash_STRBYTES];
  for (int i = 0; i < rounds; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    if (crypto_pwhash_str_alg(out, "correct horse battery staple", 28, 2, 19u * 1024 * 1024,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
      return 1;
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("argon2id_hash_ms_median %.2f\n", ms[ms.size() / 2]);
  return 0;
}
