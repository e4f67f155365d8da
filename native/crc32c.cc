#include "crc32c.h"

#include <array>
#include <cstring>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define LOOPTRACE_CRC32C_SSE42 1
#include <nmmintrin.h>
#endif

namespace looptrace {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;

// Eight 256-entry tables for slicing-by-8, built at compile time so there is no lazy
// initialisation to race on when several worker threads load the addon at once.
struct Tables {
  uint32_t t[8][256];

  constexpr Tables() : t{} {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t crc = i;
      for (int bit = 0; bit < 8; bit++) {
        crc = (crc >> 1) ^ ((crc & 1u) ? kPolynomial : 0u);
      }
      t[0][i] = crc;
    }
    for (uint32_t i = 0; i < 256; i++) {
      for (int k = 1; k < 8; k++) {
        t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
      }
    }
  }
};

constexpr Tables kTables;

// Works on the inverted CRC; the caller applies the initial and final xor.
uint32_t Crc32cTable(uint32_t crc, const uint8_t* p, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  // Slicing-by-8 folds eight bytes per step; it reads words as little-endian.
  while (n >= 8) {
    uint32_t lo;
    uint32_t hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;
    crc = kTables.t[7][lo & 0xFFu] ^ kTables.t[6][(lo >> 8) & 0xFFu] ^
          kTables.t[5][(lo >> 16) & 0xFFu] ^ kTables.t[4][lo >> 24] ^
          kTables.t[3][hi & 0xFFu] ^ kTables.t[2][(hi >> 8) & 0xFFu] ^
          kTables.t[1][(hi >> 16) & 0xFFu] ^ kTables.t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
#endif
  while (n > 0) {
    crc = (crc >> 8) ^ kTables.t[0][(crc ^ *p) & 0xFFu];
    p++;
    n--;
  }
  return crc;
}

#if defined(LOOPTRACE_CRC32C_SSE42)
// The target attribute enables SSE4.2 for this function only, so the rest of the addon stays
// runnable on any x86-64 CPU; it is only called after the runtime check below.
__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t crc64 = crc;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    crc64 = _mm_crc32_u64(crc64, word);
    p += 8;
    n -= 8;
  }
  crc = static_cast<uint32_t>(crc64);
  while (n > 0) {
    crc = _mm_crc32_u8(crc, *p);
    p++;
    n--;
  }
  return crc;
}

bool CpuHasSse42() {
  // A function-local static is initialised once and thread-safely, so the CPUID query is not
  // repeated on every call.
  static const bool has_sse42 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return has_sse42;
}
#endif

}  // namespace

uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t length) {
  crc = ~crc;
#if defined(LOOPTRACE_CRC32C_SSE42)
  if (CpuHasSse42()) {
    return ~Crc32cSse42(crc, data, length);
  }
#endif
  return ~Crc32cTable(crc, data, length);
}

}  // namespace looptrace
