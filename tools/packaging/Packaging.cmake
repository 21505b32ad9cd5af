# Debian packages, built by CPack in the build tree (`cpack -G DEB`, or `cmake --build . --target
# package`). Configure with -DCMAKE_INSTALL_PREFIX=/usr for packages that install where Debian
# expects: the units and the binary's built-in defaults name paths under the configured prefix,
# so the package keeps that prefix rather than CPack's usual /usr.
#
#   housebrain-periodic             COMPONENT runtime: host, plugins, systemd units, example config
#   housebrain-periodic-plugin-dev  COMPONENT dev: plugin.h/plugin.hpp, CMake package, pkg-config
#
# Maintainer scripts (tools/packaging/postinst, prerm, postrm) enable and start the timer on first
# installation, stop it on removal, and remove state and logs on purge.

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME housebrain-periodic)
set(CPACK_PACKAGE_VENDOR HouseBrain)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "HouseBrain maintainers <housebrain@localhost>")
# Each package's description below starts with its own synopsis line. CPack prepends the
# project-wide summary to every description unless that summary is its built-in default, so
# keep the default.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${CMAKE_PROJECT_NAME} built using CMake")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "Packages will install under ${CMAKE_INSTALL_PREFIX}; use -DCMAKE_INSTALL_PREFIX=/usr for a Debian layout")
endif()

set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME housebrain-periodic)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
  "Runs a home server's periodic maintenance and sync tasks as guarded plugins\n\
housebrain-periodic is started every minute by a systemd timer. It runs task plugins (.so files\n\
in its plugins directory) in the order of a TOML manifest, each in its own process with a\n\
deadline, so one crashing or hanging task never stops the others. Failures are logged to the\n\
journal with their priority and recorded by an OnFailure= handler.")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS systemd)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME housebrain-periodic-plugin-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION
  "Headers and build files for housebrain-periodic task plugins\n\
The C plugin ABI (housebrain/plugin.h), a header-only C++ helper (housebrain/plugin.hpp), a\n\
CMake package and a pkg-config file for building task plugins outside the source tree.")
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS housebrain-periodic)

# Library dependencies of the binary and plugins, computed by dpkg-shlibdeps (package dpkg-dev)
# when it is there; otherwise the Debian 12 packages of the libraries the host links.
find_program(HB_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(HB_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS
    "libc6, libstdc++6, libgcc-s1, libboost-program-options1.74.0, libspdlog1.10-fmt9, libfmt9, libsqlite3-0, libtomlplusplus3")
endif()

# Files under /etc are conffiles: dpkg keeps the admin's edits on upgrade. Which files the
# runtime component puts there is known only once it is installed into CPack's staging
# directory, so conffiles.cmake writes the list then.
set(CPACK_HB_CONFFILES "${PROJECT_BINARY_DIR}/packaging/conffiles")
set(CPACK_HB_SYSCONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}")
file(WRITE "${CPACK_HB_CONFFILES}" "")
set(CPACK_PRE_BUILD_SCRIPTS "${CMAKE_CURRENT_LIST_DIR}/conffiles.cmake")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
  "${CMAKE_CURRENT_LIST_DIR}/postinst;${CMAKE_CURRENT_LIST_DIR}/prerm;${CMAKE_CURRENT_LIST_DIR}/postrm;${CPACK_HB_CONFFILES}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
