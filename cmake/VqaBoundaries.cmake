# DESIGN.md's boundaries, checked when the project is configured:
# - ui/ and app/ stay free of LibTorch (the UI builds fast and stays testable). The engine
#   links LibTorch privately, so its include paths never reach those targets; this check also
#   fails the configure step if a source there names a torch header, or includes an engine
#   or models header that does, directly or through the headers it includes in turn. Those
#   headers are the engine's public ones: the set is read from the sources, not listed here,
#   so a header becomes checked the moment the UI or the CLI starts using it.
# - The bottom layer (models/base/) is plain C++: no LibTorch, no Qt.
# - models/ depends on LibTorch and the bottom layer alone: it never includes engine/.
set(_vqa_torch_include "^[ \t]*#[ \t]*include[ \t]*[<\"](torch|ATen|c10)/")
set(_vqa_project_include "^[ \t]*#[ \t]*include[ \t]*\"(engine|models)/[^\"]+\"")

file(GLOB_RECURSE _vqa_front_sources
    ${PROJECT_SOURCE_DIR}/ui/*.h ${PROJECT_SOURCE_DIR}/ui/*.cpp
    ${PROJECT_SOURCE_DIR}/app/*.h ${PROJECT_SOURCE_DIR}/app/*.cpp)
file(GLOB_RECURSE _vqa_base_headers ${PROJECT_SOURCE_DIR}/models/base/*.h)

# Follow project includes from ui/ and app/ (breadth first) to every engine or models header
# they reach; each file is read once.
set(_vqa_checked "")
set(_vqa_queue ${_vqa_front_sources} ${_vqa_base_headers})
set(_vqa_reached_from "")
while(_vqa_queue)
    list(POP_FRONT _vqa_queue _src)
    if(_src IN_LIST _vqa_checked)
        continue()
    endif()
    list(APPEND _vqa_checked ${_src})
    file(STRINGS ${_src} _hits REGEX "${_vqa_torch_include}")
    if(_hits)
        file(RELATIVE_PATH _rel ${PROJECT_SOURCE_DIR} ${_src})
        message(FATAL_ERROR "${_rel} includes a LibTorch header (${_hits}), and ui/ or app/ include it; "
                            "ui/, app/, the engine's public headers and models/base/ must stay free of "
                            "LibTorch (see DESIGN.md).")
    endif()
    file(STRINGS ${_src} _includes REGEX "${_vqa_project_include}")
    foreach(_line IN LISTS _includes)
        string(REGEX REPLACE ".*\"((engine|models)/[^\"]+)\".*" "\\1" _header "${_line}")
        if(EXISTS ${PROJECT_SOURCE_DIR}/${_header})
            list(APPEND _vqa_queue ${PROJECT_SOURCE_DIR}/${_header})
        endif()
    endforeach()
endwhile()

file(GLOB_RECURSE _vqa_models_sources ${PROJECT_SOURCE_DIR}/models/*.h ${PROJECT_SOURCE_DIR}/models/*.cpp)
foreach(_src IN LISTS _vqa_models_sources)
    file(STRINGS ${_src} _hits REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]engine/")
    if(_hits)
        file(RELATIVE_PATH _rel ${PROJECT_SOURCE_DIR} ${_src})
        message(FATAL_ERROR "${_rel} includes an engine header (${_hits}); models/ depends on LibTorch "
                            "and models/base/ alone (see docs/ARCHITECTURE.md).")
    endif()
endforeach()

set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_vqa_checked} ${_vqa_models_sources})
