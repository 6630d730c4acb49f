// QuantKernelsX86.inc with AVX2, FMA and F16C (compiled with those flags only).
#if defined(__x86_64__) && defined(__GNUC__)
#define VQA_QUANT_NS avx2
#define VQA_QUANT_NAME "avx2"
#define VQA_QUANT_TABLE kAvx2
#include "models/quant/QuantKernelsX86.inc"
#endif
