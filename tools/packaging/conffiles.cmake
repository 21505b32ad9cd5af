# CPack pre-build script (runs after the components are installed into CPack's staging directory,
# before the packages are made): lists every file the runtime component installs under the
# system configuration directory (e.g. /etc/housebrain-periodic/manifest.toml) as a dpkg
# conffile, so an upgrade keeps the admin's edits.
set(_root "${CPACK_TEMPORARY_DIRECTORY}/runtime")
file(GLOB_RECURSE _files LIST_DIRECTORIES false RELATIVE "${_root}" "${_root}${CPACK_HB_SYSCONFDIR}/*")
list(SORT _files)
set(_list "")
foreach(_f IN LISTS _files)
  if(NOT IS_SYMLINK "${_root}/${_f}")
    string(APPEND _list "/${_f}\n")
  endif()
endforeach()
file(WRITE "${CPACK_HB_CONFFILES}" "${_list}")
