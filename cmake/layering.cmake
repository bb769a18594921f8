# Layering checked by the build (after Chromium's DEPS rules, with the compiler as the checker).
#
# ps_component(NAME SOURCES <files> [DEPS <components>] [EXTERNAL <targets>]) makes the static
# library ps_<NAME> from src/<NAME>/. DEPS are the components it may call: they are its link
# dependencies, and it is compiled against a view of src/ (a directory of symbolic links in the
# build tree) holding only its own folder and those of DEPS and of their DEPS (its headers include
# theirs). No other include path reaches src/, so `#include "<other>/…"` for a component it may
# not call fails: "No such file or directory". A component must be declared after every
# component it calls, so the layers cannot form a cycle.
#
# ps_layering_view(TARGET NAME <components>) gives an executable the same kind of view.

function(_ps_closure out)
  set(closure)
  foreach(d ${ARGN})
    if(NOT TARGET ps_${d})
      message(FATAL_ERROR "layering: ${d} is not a component declared earlier (src/CMakeLists.txt)")
    endif()
    get_property(dc GLOBAL PROPERTY PS_LAYER_${d})
    list(APPEND closure ${dc})
  endforeach()
  list(REMOVE_DUPLICATES closure)
  set(${out} ${closure} PARENT_SCOPE)
endfunction()

# The view: <build>/layering/<name>-<hash of its folders>/<folder> -> src/<folder>. A changed
# list makes a new directory, so no stale link survives and nothing is ever deleted.
function(_ps_view target name folders)
  list(SORT folders)
  string(MD5 hash "${folders}")
  string(SUBSTRING ${hash} 0 8 hash)
  set(view ${PROJECT_BINARY_DIR}/layering/${name}-${hash})
  foreach(f ${folders})
    if(NOT EXISTS ${view}/${f})
      file(MAKE_DIRECTORY ${view})
      file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${f} ${view}/${f} SYMBOLIC)
    endif()
  endforeach()
  target_include_directories(${target} PRIVATE ${view})
  set_property(GLOBAL PROPERTY PS_VIEW_${name} ${view})
endfunction()

function(ps_component name)
  cmake_parse_arguments(PARSE_ARGV 1 C "" "" "SOURCES;DEPS;EXTERNAL")
  add_library(ps_${name} STATIC ${C_SOURCES})
  _ps_closure(closure ${C_DEPS})
  list(APPEND closure ${name})
  set_property(GLOBAL PROPERTY PS_LAYER_${name} ${closure})
  _ps_view(ps_${name} ${name} "${closure}")
  foreach(d ${C_DEPS})
    target_link_libraries(ps_${name} PUBLIC ps_${d})
  endforeach()
  if(C_EXTERNAL)
    target_link_libraries(ps_${name} PUBLIC ${C_EXTERNAL})
  endif()
endfunction()

function(ps_layering_view target name)
  _ps_closure(closure ${ARGN})
  list(APPEND closure ${name})
  _ps_view(${target} ${name} "${closure}")
endfunction()
