# Shared by build-image, run and ci (sourced, not executed).
#
# The cache key is a hash of every file that shapes the image, so editing
# any of them makes build-image rebuild, and run refuses a stale image.

XQ_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
XQ_ROOT=$(cd "$XQ_HERE/../.." && pwd)
XQ_CACHE=${XEN_QEMU_CACHE:-/var/cache/xenstore-rs/xen-qemu}
XQ_SUITE=bookworm
XQ_MIRROR=${XEN_QEMU_MIRROR:-http://deb.debian.org/debian}
XQ_XEN_PKG=xen-hypervisor-4.17-amd64
XQ_QEMU_PKGS=(qemu-system-x86 qemu-system-common qemu-system-data)

xq_key() {
    cat "$XQ_HERE/lib.sh" "$XQ_HERE/build-image" "$XQ_HERE/initrd-init" \
        "$XQ_HERE/dom0-init" | sha256sum | cut -c1-16
}

xq_image_dir() { echo "$XQ_CACHE/$(xq_key)"; }

xq_say() { echo "xen-qemu: $*" >&2; }
xq_die() {
    echo >&2
    echo "xen-qemu: ERROR: $*" >&2
    echo >&2
    exit 1
}
