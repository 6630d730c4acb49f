# LibTorch comes from the `torch` wheel in the project's Python environment (scripts/setup
# makes it). VQA_PYTHON names that interpreter.
#
# We link only LibTorch's CPU libraries (libtorch_cpu, libc10) through our own target
# `vqa_torch`, instead of the wheel's CMake config: that config insists on a CUDA toolkit
# when the wheel is a CUDA build, and links libtorch_cuda into every program. The engine
# loads libtorch_cuda at run time instead (engine/Device.cpp), when it is there and a GPU
# is present, so one build runs on the GPU where it can and on the CPU everywhere, and no
# CUDA toolkit is needed to build.
set(VQA_PYTHON "" CACHE FILEPATH "Python interpreter of the environment that holds torch")
if(NOT VQA_PYTHON)
    find_program(_vqa_py NAMES python3 REQUIRED)
    set(VQA_PYTHON ${_vqa_py} CACHE FILEPATH "" FORCE)
endif()
execute_process(
    COMMAND ${VQA_PYTHON} -c "import os, torch; print(os.path.dirname(torch.__file__)); print(torch.__version__); print(int(torch._C._GLIBCXX_USE_CXX11_ABI)); print(torch.version.cuda or '')"
    OUTPUT_VARIABLE _vqa_torch_out RESULT_VARIABLE _vqa_torch_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _vqa_torch_rc EQUAL 0)
    message(FATAL_ERROR "${VQA_PYTHON} cannot import torch. Run scripts/setup, which creates the "
                        "Python environment with the torch wheel, or pass -DVQA_PYTHON=/path/to/python.")
endif()
string(REPLACE "\n" ";" _vqa_torch_out "${_vqa_torch_out}")
list(GET _vqa_torch_out 0 VQA_TORCH_ROOT)
list(GET _vqa_torch_out 1 VQA_TORCH_VERSION)
list(GET _vqa_torch_out 2 _vqa_torch_abi)
list(LENGTH _vqa_torch_out _n)
set(VQA_TORCH_CUDA "")
if(_n GREATER 3)
    list(GET _vqa_torch_out 3 VQA_TORCH_CUDA)
endif()
set(VQA_TORCH_LIBDIR "${VQA_TORCH_ROOT}/lib")
foreach(_lib torch_cpu c10)
    find_library(VQA_TORCH_${_lib} ${_lib} PATHS ${VQA_TORCH_LIBDIR} NO_DEFAULT_PATH REQUIRED)
endforeach()
message(STATUS "LibTorch ${VQA_TORCH_VERSION} from ${VQA_TORCH_ROOT} (CUDA build: '${VQA_TORCH_CUDA}', loaded at run time)")

add_library(vqa_torch INTERFACE)
target_include_directories(vqa_torch SYSTEM INTERFACE
    ${VQA_TORCH_ROOT}/include ${VQA_TORCH_ROOT}/include/torch/csrc/api/include)
target_link_libraries(vqa_torch INTERFACE ${VQA_TORCH_torch_cpu} ${VQA_TORCH_c10} ${CMAKE_DL_LIBS})
set(TORCH_LIBRARIES vqa_torch)

# LibTorch's intra-op threads are OpenMP's, and at::parallel_for is a header template: in
# code compiled without OpenMP it runs its whole range on the calling thread. Our own kernels
# that split work with it (models/CpuGemv.cpp, engine/vision/PilResize.cpp) must therefore be
# compiled with -fopenmp, and link the libgomp the wheel ships (the one libtorch_cpu loads),
# so that the process has one OpenMP runtime and one thread pool. (GCC only: clang's OpenMP
# is another runtime; its builds, the fuzzers, stay on one thread.)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND EXISTS "${VQA_TORCH_LIBDIR}/libgomp.so.1")
    target_compile_options(vqa_torch INTERFACE -fopenmp)
    target_link_libraries(vqa_torch INTERFACE "${VQA_TORCH_LIBDIR}/libgomp.so.1")
    message(STATUS "OpenMP: LibTorch's libgomp (our at::parallel_for loops use its threads)")
else()
    message(STATUS "OpenMP: off for our own kernels (they run on the calling thread)")
endif()

# The C++ ABI switch must agree between LibTorch, Qt, OpenCV and our code.
add_compile_definitions(_GLIBCXX_USE_CXX11_ABI=${_vqa_torch_abi})

# libtorch_cpu of a CUDA wheel needs libcudart and libcupti from the nvidia-* wheels beside
# it, found through an $ORIGIN rpath at run time; the linker does not follow that, and may
# pick an older system copy instead, so name the folders for it.
file(GLOB _vqa_nvidia_libdirs LIST_DIRECTORIES true "${VQA_TORCH_ROOT}/../nvidia/*/lib")
foreach(_dir IN LISTS _vqa_nvidia_libdirs)
    add_link_options("LINKER:-rpath-link,${_dir}")
endforeach()

# One precompiled header for the LibTorch-heavy targets; others reuse it.
set(VQA_TORCH_PCH <torch/torch.h>)
