#!/usr/bin/env bash
# Make a root filesystem holding a real RPM database in its SQLite form, written by rpm itself:
# packages built with rpmbuild from small spec files (epochs, subpackages whose source RPM
# differs, a header large enough to need SQLite overflow pages, enough packages for a
# multi-level b-tree), installed with `rpm --justdb`. Prints rpm's own listing of the database
# (NAME EPOCH VERSION RELEASE ARCH SOURCERPM per line) to OUT/expected.txt.
#
#   scripts/fixture-rpmdb.sh OUT
set -euo pipefail
out=$1
command -v rpmbuild >/dev/null || {
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq rpm >/dev/null
}
top="$out/rpmbuild"
mkdir -p "$top/SPECS" "$out/rootfs/etc" "$out/rootfs/var/lib/rpm"

spec() { # NAME EPOCH(or -) VERSION RELEASE [EXTRA SPEC TEXT]
    local epoch=""
    [ "$2" != - ] && epoch="Epoch: $2"
    cat > "$top/SPECS/$1.spec" <<SPEC
Name: $1
$epoch
Version: $3
Release: $4
Summary: sealift test package
License: MIT
BuildArch: noarch
%description
A package for sealift's RPM database tests.
%files
${5:-}
SPEC
}

spec bash - 5.1.8 6.el9
spec tzdata - 2024a 1.el9
# openssl-libs comes from the openssl source RPM, with an epoch and 300 files: its header is
# larger than a 4 KiB page.
spec openssl 1 3.0.7 27.el9 "
%package libs
Summary: libraries
%description libs
libraries
%install
mkdir -p %{buildroot}/usr/lib64/ossl-modules
for i in \$(seq 300); do echo \$i > %{buildroot}/usr/lib64/ossl-modules/module-\$i.so; done
%files libs
/usr/lib64/ossl-modules"
# Sixty subpackages of one source: more rows than one leaf page holds.
extra=""
for i in $(seq -w 60); do
    extra+=$'\n'"%package -n python3-mod$i"$'\n'"Summary: module $i"$'\n'"%description -n python3-mod$i"$'\n'"module $i"$'\n'"%files -n python3-mod$i"$'\n'
done
spec python3-modules 2 3.9.18 3.el9 "$extra"

for s in "$top"/SPECS/*.spec; do
    rpmbuild -bb --quiet --define "_topdir $top" --define "__os_install_post %{nil}" "$s" >/dev/null 2>"$out/rpmbuild.log" \
        || { cat "$out/rpmbuild.log" >&2; exit 1; }
done
db="$out/rootfs/var/lib/rpm"
rpm=(rpm --dbpath "$db" --define "_db_backend sqlite")
"${rpm[@]}" --initdb
"${rpm[@]}" -i --justdb --nodeps --noscripts --ignorearch --ignoreos "$top"/RPMS/noarch/*.rpm 2>/dev/null
"${rpm[@]}" -qa --qf '%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH} %{SOURCERPM}\n' | sort > "$out/expected.txt"
rm -f "$db/.rpm.lock" "$db/rpmdb.sqlite-shm" "$db/rpmdb.sqlite-wal"
printf 'NAME="Rocky Linux"\nID="rocky"\nVERSION_ID="9.3"\n' > "$out/rootfs/etc/os-release"
