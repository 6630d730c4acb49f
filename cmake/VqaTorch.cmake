# LibTorch comes from the `torch` wheel in the project's Python environment (scripts/setup
# makes it). VQA_PYTHON names that interpreter; torch.utils.cmake_prefix_path gives the
# CMake config inside the wheel.
set(VQA_PYTHON "" CACHE FILEPATH "Python interpreter of the environment that holds torch")
if(NOT VQA_PYTHON)
    find_program(_vqa_py NAMES python3 REQUIRED)
    set(VQA_PYTHON ${_vqa_py} CACHE FILEPATH "" FORCE)
endif()
execute_process(
    COMMAND ${VQA_PYTHON} -c "import torch, torch.utils; print(torch.utils.cmake_prefix_path); print(torch.version.cuda or '')"
    OUTPUT_VARIABLE _vqa_torch_out RESULT_VARIABLE _vqa_torch_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _vqa_torch_rc EQUAL 0)
    message(FATAL_ERROR "${VQA_PYTHON} cannot import torch. Run scripts/setup, which creates the "
                        "Python environment with the torch wheel, or pass -DVQA_PYTHON=/path/to/python.")
endif()
string(REPLACE "\n" ";" _vqa_torch_out "${_vqa_torch_out}")
list(GET _vqa_torch_out 0 _vqa_torch_prefix)
list(LENGTH _vqa_torch_out _n)
set(VQA_TORCH_CUDA "")
if(_n GREATER 1)
    list(GET _vqa_torch_out 1 VQA_TORCH_CUDA)
endif()
list(APPEND CMAKE_PREFIX_PATH ${_vqa_torch_prefix})
get_filename_component(VQA_TORCH_LIBDIR "${_vqa_torch_prefix}/../../lib" ABSOLUTE)
# A CUDA wheel's config otherwise compiles and runs a probe on the build machine's GPU;
# we build no CUDA sources ourselves, so name the architectures instead of probing.
if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
endif()
find_package(Torch REQUIRED)
message(STATUS "LibTorch ${Torch_VERSION} from ${_vqa_torch_prefix} (CUDA build: '${VQA_TORCH_CUDA}')")

# A CUDA wheel's libtorch_cuda finds its CUDA libraries (the nvidia-* wheels beside it)
# through an $ORIGIN rpath at run time. The linker does not follow that and may pick an
# older system copy (for example a toolkit's libnccl) instead, so name the folders for it.
file(GLOB _vqa_nvidia_libdirs LIST_DIRECTORIES true "${VQA_TORCH_LIBDIR}/../../nvidia/*/lib")
foreach(_dir IN LISTS _vqa_nvidia_libdirs)
    add_link_options("LINKER:-rpath-link,${_dir}")
endforeach()

# Torch's config puts its flags in TORCH_CXX_FLAGS (the C++ ABI switch); apply them everywhere
# so Qt, OpenCV and our code agree on std::string's layout.
set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")

# One precompiled header for the LibTorch-heavy targets; others reuse it.
set(VQA_TORCH_PCH <torch/torch.h>)
