// QuantKernelsX86.inc with AVX-VNNI (the VEX-encoded vpdpbusd of Alder Lake, Zen 5 and later).
#if defined(__x86_64__) && defined(__GNUC__)
#define VQA_QUANT_NS avxvnni
#define VQA_QUANT_NAME "avx-vnni"
#define VQA_QUANT_TABLE kAvxVnni
#define VQA_QUANT_AVXVNNI 1
#include "models/quant/QuantKernelsX86.inc"
#endif
