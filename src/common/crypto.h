// The few cryptographic primitives the host needs, all from OpenSSL: CSPRNG bytes, HMAC-SHA256,
// SHA-256, and a constant-time comparison.
#pragma once

#include <string>
#include <string_view>

namespace ps {

// n bytes from the OS CSPRNG (OpenSSL RAND_bytes). Aborts if the generator fails: running with a
// predictable secret would be worse than not running.
std::string RandomBytes(size_t n);
std::string HmacSha256(std::string_view key, std::string_view message);
// The 32-byte SHA-256 digest of data.
std::string Sha256(std::string_view data);
// True iff a == b, in time that depends only on the lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);
// Frees the calling thread's OpenSSL state (its error queue, random generators). A detached
// thread calls it before it reports itself done: otherwise that state is freed only after the
// count a shutdown waits for, and a process exiting meanwhile leaks it (LeakSanitizer saw one).
void ReleaseThreadCryptoState();

}  // namespace ps
