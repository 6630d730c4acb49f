// QuantKernelsX86.inc with AVX512-VNNI (and BW, DQ, VL), two blocks per 512-bit register: Ice Lake, Sapphire
// Rapids, Zen 4 and later.
#if defined(__x86_64__) && defined(__GNUC__)
#define VQA_QUANT_NS avx512vnni
#define VQA_QUANT_NAME "avx512-vnni"
#define VQA_QUANT_TABLE kAvx512Vnni
#define VQA_QUANT_AVX512VNNI 1
#include "models/quant/QuantKernelsX86.inc"
#endif
