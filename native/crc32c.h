#ifndef LOOPTRACE_NATIVE_CRC32C_H_
#define LOOPTRACE_NATIVE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace looptrace {

// Computes CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial value and final xor
// 0xFFFFFFFF). The pre- and post-inversion happen inside, so pass crc = 0 to start and pass a
// previous result to continue over more bytes: Crc32c(Crc32c(0, a), b) == Crc32c(0, a + b).
// Crc32c(0, "123456789", 9) == 0xE3069283.
uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t length);

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_CRC32C_H_
