# Shared by build-image, run and ci (sourced, not executed).
#
# XEN_QEMU_VERSION (or the scripts' --xen option, which sets it) picks the
# Xen release: 4.17 (Debian bookworm dom0, the default) or 4.20 (Debian
# trixie dom0). The cache key is a hash of the version and of every file
# that shapes the image, so editing any of them makes build-image rebuild,
# and run refuses a stale image.

XQ_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
XQ_ROOT=$(cd "$XQ_HERE/../.." && pwd)
XQ_CACHE=${XEN_QEMU_CACHE:-/var/cache/xenstore-rs/xen-qemu}
XQ_MIRROR=${XEN_QEMU_MIRROR:-http://deb.debian.org/debian}
# QEMU 7.2 from the host's bookworm archive, whatever the dom0's release.
XQ_QEMU_PKGS=(qemu-system-x86 qemu-system-common qemu-system-data)
XQ_VERSIONS="4.17 4.20"

# xq_version V: selects Xen release V (sets XQ_VERSION, XQ_SUITE, XQ_XEN_PKG,
# XQ_XEN_FROM: "host" downloads the hypervisor with the host's apt, "rootfs"
# takes it from the dom0 root filesystem, where debootstrap put it).
xq_version() {
    XQ_VERSION=$1
    case "$XQ_VERSION" in
    4.17) XQ_SUITE=bookworm XQ_XEN_FROM=host ;;
    4.20) XQ_SUITE=trixie XQ_XEN_FROM=rootfs ;;
    *) xq_die "unknown Xen version $XQ_VERSION (known: $XQ_VERSIONS)" ;;
    esac
    XQ_XEN_PKG=xen-hypervisor-$XQ_VERSION-amd64
}

xq_key() {
    { echo "$XQ_VERSION"; cat "$XQ_HERE/lib.sh" "$XQ_HERE/build-image" "$XQ_HERE/initrd-init" \
        "$XQ_HERE/dom0-init" "$XQ_HERE/guest-init"; } | sha256sum | cut -c1-16
}

xq_image_dir() { echo "$XQ_CACHE/xen-$XQ_VERSION-$(xq_key)"; }

xq_say() { echo "xen-qemu: $*" >&2; }
xq_die() {
    echo >&2
    echo "xen-qemu: ERROR: $*" >&2
    echo >&2
    exit 1
}

xq_version "${XEN_QEMU_VERSION:-4.17}"
