# housebrain_add_plugin(NAME SOURCES...)
#
# Builds a task plugin as a MODULE library named NAME.so (no "lib" prefix) that exports only the
# entry symbol: hidden visibility by default, a linker version script, and --no-undefined so a
# missing symbol fails the build rather than the load.
set(_HB_PLUGIN_MAP "${CMAKE_CURRENT_LIST_DIR}/plugin.map" CACHE INTERNAL "")

function(housebrain_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  if(TARGET HouseBrain::plugin)
    target_link_libraries(${name} PRIVATE HouseBrain::plugin)
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS "${_HB_PLUGIN_MAP}")
  target_link_options(${name} PRIVATE
    "LINKER:--no-undefined" "LINKER:--version-script=${_HB_PLUGIN_MAP}")
endfunction()
