// Kernels for trak's random projection on NVIDIA GPUs, compiled to PTX by
// `go generate ./internal/gpu` (nvcc -ptx) and loaded by the driver at run
// time. They implement exactly the definition in internal/projection's
// package doc, so every Rademacher entry is bit-identical to the CPU's.

#include <stdint.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u
#define DOMAIN_RADEMACHER 1u

// philox4x32_10 is Philox4x32-10: ten rounds of the multiply-xor network,
// bumping the key by the Weyl constants between rounds.
__device__ __forceinline__ uint4 philox4x32_10(uint4 c, uint2 k) {
#pragma unroll
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k.x += PHILOX_W0;
            k.y += PHILOX_W1;
        }
        uint32_t hi0 = __umulhi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
        uint32_t hi1 = __umulhi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
        c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

// rademacher_block writes rows [row0, row0+rows) × columns [0, k) of P,
// row-major with leading dimension ld: entry (r, c) is +scale when bit
// c%32 of word (c%128)/32 of Philox(key, (c/128, lo32(r), hi32(r), 1)) is
// set, else −scale. One thread per (row, group of 128 columns).
extern "C" __global__ void rademacher_block(float *out, int ld, uint32_t key0, uint32_t key1,
                                            unsigned long long row0, int rows, int k, float scale) {
    int groups = (k + 127) / 128;
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long)rows * groups) return;
    int i = (int)(t / groups), g = (int)(t % groups);
    unsigned long long r = row0 + (unsigned long long)i;
    uint4 x = philox4x32_10(make_uint4((uint32_t)g, (uint32_t)r, (uint32_t)(r >> 32), DOMAIN_RADEMACHER),
                            make_uint2(key0, key1));
    uint32_t w[4] = {x.x, x.y, x.z, x.w};
    float *dst = out + (long long)i * ld;
    int c0 = g * 128;
    for (int j = 0; j < 128 && c0 + j < k; j++) {
        dst[c0 + j] = ((w[j / 32] >> (j % 32)) & 1u) ? scale : -scale;
    }
}
