# DESIGN.md keeps LibTorch out of ui/ and app/: the UI builds fast and stays testable.
# The engine links LibTorch privately, so its include paths never reach those targets;
# this check also fails the configure step if a source there names a torch header.
file(GLOB_RECURSE _vqa_boundary_sources
    ${PROJECT_SOURCE_DIR}/ui/*.h ${PROJECT_SOURCE_DIR}/ui/*.cpp
    ${PROJECT_SOURCE_DIR}/app/*.h ${PROJECT_SOURCE_DIR}/app/*.cpp
    ${PROJECT_SOURCE_DIR}/engine/include/*.h)
foreach(_src IN LISTS _vqa_boundary_sources)
    file(STRINGS ${_src} _hits REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"](torch|ATen|c10)/")
    if(_hits)
        message(FATAL_ERROR "${_src} includes a LibTorch header (${_hits}); ui/, app/ and the "
                            "engine's public headers must stay free of LibTorch (see DESIGN.md).")
    endif()
endforeach()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_vqa_boundary_sources})
