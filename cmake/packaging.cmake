# The Debian package of rtjobs (docs/PACKAGING.md), built by CPack from this build tree:
# `scripts/package.sh [BUILD_DIR]` or `cpack -G DEB` in a Release tree. The install rules also
# serve `cmake --install` (prefix /usr/local by default; the unit and /etc files keep their
# absolute paths, as the unit names them).
set(RTJOBS_PACKAGING ${CMAKE_SOURCE_DIR}/packaging)

install(TARGETS rtjobs RUNTIME DESTINATION bin)
install(FILES ${RTJOBS_PACKAGING}/rtjobs.service DESTINATION /lib/systemd/system)
install(FILES ${RTJOBS_PACKAGING}/rtjobs.toml DESTINATION /etc/rtjobs)
# Secrets: postinst gives the file to group rtjobs (0640 root:rtjobs) once the group exists.
install(FILES ${RTJOBS_PACKAGING}/env DESTINATION /etc/rtjobs
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)

# Debian wants the changelog and man page compressed without a timestamp (gzip -n), so two builds
# of one source give the same package. Regenerated when either changes.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${RTJOBS_PACKAGING}/changelog
                                                               ${RTJOBS_PACKAGING}/rtjobs.8)
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/packaging)
execute_process(COMMAND gzip -n -9 -c ${RTJOBS_PACKAGING}/changelog
                OUTPUT_FILE ${CMAKE_BINARY_DIR}/packaging/changelog.gz COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND gzip -n -9 -c ${RTJOBS_PACKAGING}/rtjobs.8
                OUTPUT_FILE ${CMAKE_BINARY_DIR}/packaging/rtjobs.8.gz COMMAND_ERROR_IS_FATAL ANY)
install(FILES ${CMAKE_BINARY_DIR}/packaging/rtjobs.8.gz DESTINATION share/man/man8)
install(FILES ${RTJOBS_PACKAGING}/copyright ${CMAKE_BINARY_DIR}/packaging/changelog.gz
              ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/PACKAGING.md
        DESTINATION share/doc/rtjobs)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME rtjobs)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_CONTACT "rtjobs maintainers <maintainers@users.noreply.r-seed-d3299415.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "jobs server for recurring bank transfers")
# The long description's lines (CPack puts the summary first and indents each line).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "rtjobs stores standing orders, creates a job for each occurrence, executes
each transfer exactly once through the customer's Banking-as-a-Service
provider, retries while the bank is down and archives old jobs to S3 as CSV.
One binary, on SQLite or PostgreSQL, run by the rtjobs.service systemd unit.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends: dpkg-shlibdeps (dpkg-dev) computes it from the shared libraries the binary links;
# adduser for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${RTJOBS_PACKAGING}/debian/postinst ${RTJOBS_PACKAGING}/debian/prerm
    ${RTJOBS_PACKAGING}/debian/postrm ${RTJOBS_PACKAGING}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_BINARY_DIR}/packages)
include(CPack)
