#!/usr/bin/env python3
"""jitlines.py - a loaded BPF program's JIT offsets mapped to source lines.

    jitlines.py PROG_ID > MAP        (root)
    perf script -F ip,sym,symoff | jitlines.py --hot MAP SRC_DIR PROG_NAME

The first form asks the kernel (bpf(2): BPF_OBJ_GET_INFO_BY_FD) for the
program's line info, the JIT address of each line-info record, and its BTF's
string section for the file names, and prints one line per record:
"OFFSET FILE LINE", OFFSET in hex from the program's start. bpftool can show
the same only when built with libbfd, which Debian's is not.

The second form reads perf script's samples (call chains, one frame a line,
a blank line after each sample) and charges each sample that has a frame in
the program called PROG_NAME (symbol bpf_prog_TAG_PROG_NAME) to the
innermost such frame: a sample in a helper or map operation the program
called goes to the line that called it. It prints each source line's share,
with the line's text from SRC_DIR. An offset is charged to the last
line-info record at or before it; sampling skid charges a slow load to the
instruction after it. A benchmark helper (tools/bench/profile.sh).
"""
import bisect
import collections
import ctypes
import os
import re
import struct
import sys

SYS_BPF = 321  # x86-64
BPF_PROG_GET_FD_BY_ID = 13
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_BTF_GET_FD_BY_ID = 19
# offsets in struct bpf_prog_info (include/uapi/linux/bpf.h)
PI_JITED_LEN, PI_NR_KSYMS, PI_KSYMS, PI_BTF_ID = 16, 104, 112, 128
PI_NR_LINE, PI_LINE, PI_JITED_LINE, PI_NR_JITED_LINE = 148, 152, 160, 168
PI_LINE_REC, PI_JITED_LINE_REC = 172, 176
PI_SIZE = 256

libc = ctypes.CDLL(None, use_errno=True)


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(bytes(attr), 128)
    r = libc.syscall(SYS_BPF, cmd, buf, 128)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, "bpf(%d): %s" % (cmd, os.strerror(e)))
    return r


def obj_info(fd, req, size):
    """BPF_OBJ_GET_INFO_BY_FD with req (bytes) as the info struct to fill."""
    buf = ctypes.create_string_buffer(bytes(req).ljust(size, b"\0"), size)
    bpf(BPF_OBJ_GET_INFO_BY_FD, struct.pack("IIQ", fd, size, ctypes.addressof(buf)))
    return buf.raw


def btf_strings(btf_id):
    fd = bpf(BPF_BTF_GET_FD_BY_ID, struct.pack("I", btf_id))
    try:
        size = struct.unpack_from("I", obj_info(fd, b"", 32), 8)[0]  # btf_size
        raw = ctypes.create_string_buffer(size)
        obj_info(fd, struct.pack("QI", ctypes.addressof(raw), size), 32)
    finally:
        os.close(fd)
    # struct btf_header: magic u16, version u8, flags u8, hdr_len, type_off,
    # type_len, str_off, str_len (u32 each)
    hdr_len, _, _, str_off, str_len = struct.unpack_from("5I", raw.raw, 4)
    return raw.raw[hdr_len + str_off:hdr_len + str_off + str_len]


def cstr(tab, off):
    end = tab.find(b"\0", off)
    return tab[off:end if end >= 0 else len(tab)].decode(errors="replace")


def dump(prog_id):
    fd = bpf(BPF_PROG_GET_FD_BY_ID, struct.pack("I", prog_id))
    try:
        info = obj_info(fd, b"", PI_SIZE)
        u32 = lambda off: struct.unpack_from("I", info, off)[0]
        nks, nli, njli = u32(PI_NR_KSYMS), u32(PI_NR_LINE), u32(PI_NR_JITED_LINE)
        lrec, jrec, btf_id = u32(PI_LINE_REC), u32(PI_JITED_LINE_REC), u32(PI_BTF_ID)
        if not nli or not njli or not nks:
            sys.exit("jitlines: program %d has no (JIT) line info" % prog_id)
        ks = ctypes.create_string_buffer(8 * nks)
        li = ctypes.create_string_buffer(lrec * nli)
        jli = ctypes.create_string_buffer(jrec * njli)
        req = bytearray(PI_SIZE)
        struct.pack_into("I", req, PI_NR_KSYMS, nks)
        struct.pack_into("Q", req, PI_KSYMS, ctypes.addressof(ks))
        struct.pack_into("I", req, PI_NR_LINE, nli)
        struct.pack_into("Q", req, PI_LINE, ctypes.addressof(li))
        struct.pack_into("Q", req, PI_JITED_LINE, ctypes.addressof(jli))
        struct.pack_into("I", req, PI_NR_JITED_LINE, njli)
        struct.pack_into("I", req, PI_LINE_REC, lrec)
        struct.pack_into("I", req, PI_JITED_LINE_REC, jrec)
        obj_info(fd, req, PI_SIZE)
    finally:
        os.close(fd)
    strs = btf_strings(btf_id)
    start = struct.unpack_from("Q", ks.raw, 0)[0]  # the main function
    for i in range(min(nli, njli)):
        _, file_off, _, line_col = struct.unpack_from("4I", li.raw, i * lrec)
        addr = struct.unpack_from("Q", jli.raw, i * jrec)[0]
        if addr >= start:
            print("%x %s %d" % (addr - start, os.path.basename(cstr(strs, file_off)), line_col >> 10))


def sample_offsets(stream, prog):
    """the offset of the innermost frame in prog, per sample that has one."""
    sym = re.compile(r"^bpf_prog_[0-9a-f]+_%s\+0x([0-9a-f]+)$" % re.escape(prog))
    found = None
    for ln in stream:
        parts = ln.split()
        if not parts:
            if found is not None:
                yield found
            found = None
            continue
        if found is None and len(parts) >= 2:
            m = sym.match(parts[1])
            if m:
                found = int(m.group(1), 16)
    if found is not None:
        yield found


def hot(map_path, src_dir, prog):
    recs = []
    with open(map_path) as f:
        for ln in f:
            off, name, line = ln.split()
            recs.append((int(off, 16), name, int(line)))
    recs.sort()
    offs = [r[0] for r in recs]
    count, total = collections.Counter(), 0
    for off in sample_offsets(sys.stdin, prog):
        i = bisect.bisect_right(offs, off) - 1
        count[(recs[i][1], recs[i][2]) if i >= 0 else ("?", 0)] += 1
        total += 1
    if not total:
        sys.exit("jitlines: no samples in the program")
    texts = {}
    print("%7s  %s" % ("share", "source line (of %d samples in %s or what it called)" % (total, prog)))
    for (name, line), n in count.most_common(25):
        if name not in texts:
            try:
                with open(os.path.join(src_dir, name)) as f:
                    texts[name] = f.read().split("\n")
            except OSError:
                texts[name] = []
        t = texts[name]
        text = t[line - 1].strip() if 0 < line <= len(t) else ""
        print("%6.1f%%  %s:%d  %s" % (100.0 * n / total, name, line, text[:80]))


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1].isdigit():
        dump(int(sys.argv[1]))
    elif len(sys.argv) == 5 and sys.argv[1] == "--hot":
        hot(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__.split("\n\n")[1])
