#!/usr/bin/env python3
"""Write the committed seed corpora under fuzz/seeds/<target>/.

Every seed is synthetic: an invented vendor ("Example", code "EXA") with made-up
components, in the depot format's shapes (depot-format §1-§4). No byte comes from the
real samples in ../shared/depot-samples, which .ci/run passes to the fuzzer separately.

Run from anywhere: python3 fuzz/make_seeds.py  (output is deterministic)
"""

import gzip
import hashlib
import io
import json
import os
import struct
import tarfile
import warnings
import zipfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
FIXED_TIME = (2024, 1, 2, 3, 4, 6)


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def zip_bytes(members, compress=zipfile.ZIP_DEFLATED, modes=None):
    """`modes`: unix mode by member name (default 0o644), e.g. 0o120777 for a symlink."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # Hostile seeds repeat a name on purpose.
        warnings.simplefilter("ignore", UserWarning)
        with zipfile.ZipFile(buf, "w", compress) as z:
            for name, data in members:
                info = zipfile.ZipInfo(name, FIXED_TIME)
                info.compress_type = compress
                info.external_attr = (modes or {}).get(name, 0o644) << 16
                info.create_system = 3
                z.writestr(info, data)
    return buf.getvalue()


def forge_size(zip_data, name, size):
    """Sets the declared uncompressed size of `name` in its central and local headers."""
    data = bytearray(zip_data)
    at = struct.unpack_from("<I", data, data.rfind(b"PK\x05\x06") + 16)[0]
    while data[at : at + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<HHH", data, at + 28)
        if data[at + 46 : at + 46 + n] == name.encode():
            local = struct.unpack_from("<I", data, at + 42)[0]
            struct.pack_into("<I", data, at + 24, size)
            struct.pack_into("<I", data, local + 22, size)
        at += 46 + n + m + k
    return bytes(data)


def ar_bytes(members):
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        header = (
            name.ljust(16)[:16]
            + "0".ljust(12)
            + "0".ljust(6)
            + "0".ljust(6)
            + "0o0".ljust(8)
            + str(len(data)).ljust(10)
            + "`\n"
        )
        out += header.encode()
        out += data
        if len(data) % 2:
            out += b"\n"
    return bytes(out)


def payload_vgz():
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        body = b"# example driver map\n"
        info = tarfile.TarInfo("etc/vmware/example.map")
        info.size = len(body)
        info.mtime = 0
        t.addfile(info, io.BytesIO(body))
    tar = raw.getvalue()
    gz = gzip.compress(tar, mtime=0)
    return tar, gz


VENDOR_LIST = """<vendorList>
  <vendor>
    <name>Example</name>
    <code>EXA</code>
    <indexfile>vendor-index.xml</indexfile>
    <patchUrl></patchUrl>
    <relativePath></relativePath>
    <content>
      <name>VMware ESX</name>
      <type>http://www.vmware.com/depotmanagement/esx</type>
    </content>
  </vendor>
</vendorList>
"""

VENDOR_INDEX = """<metaList>
  <metadata>
    <productId>embeddedEsx</productId>
    <version>8.0.0</version>
    <locale></locale>
    <url>metadata.zip</url>
    <channelName>default</channelName>
  </metadata>
  <metadata>
    <productId>embeddedEsx</productId>
    <version>7.*</version>
    <locale></locale>
    <url>metadata.zip</url>
    <channelName>default</channelName>
  </metadata>
</metaList>
"""

VIB_NAME = "example-nic"
VIB_VERSION = "2.1.0-1exa.800.1.0.10000001"
VIB_ID = f"EXA_bootbank_{VIB_NAME}_{VIB_VERSION}"
VIB_PATH = f"vib20/{VIB_NAME}/{VIB_ID}.vib"


def descriptor(tar, gz, location=None):
    loc = ""
    if location:
        rel, size, sha = location
        loc = (
            f"<relative-path>{rel}</relative-path><packed-size>{size}</packed-size>"
            f'<checksum checksum-type="sha-256">{sha}</checksum>'
        )
    return (
        f'<vib version="5.0"><type>bootbank</type><name>{VIB_NAME}</name>'
        f"<version>{VIB_VERSION}</version><vendor>EXA</vendor><summary>Example NIC driver</summary>"
        "<description>A synthetic driver for fuzzing seeds</description>"
        "<release-date>2024-01-02T03:04:05+00:00</release-date>"
        '<urls><url key="kb">https://example.invalid/kb/1</url></urls>'
        "<relationships><depends>"
        '<constraint name="vmkapi_2_10_0_0"/>'
        '<constraint name="esx-version" relation="&gt;=" version="8.0.0"/>'
        "</depends><conflicts>"
        '<constraint name="example-nic-old" relation="&lt;&lt;" version="2.0.0-1exa"/>'
        "</conflicts><replaces/><provides>"
        '<provide name="example-nic-api" version="2.1.0-1"/>'
        "</provides><compatibleWith/></relationships>"
        "<software-tags><tag>driver</tag><tag>module</tag></software-tags>"
        f"{loc}"
        '<system-requires><maintenance-mode install="true" remove="true">true</maintenance-mode>'
        '<softwarePlatform version="8.0.0" locale="" productLineID="embeddedEsx"/></system-requires>'
        "<file-list><file>etc/vmware/example.map</file></file-list>"
        "<acceptance-level>partner</acceptance-level>"
        "<live-install-allowed>false</live-install-allowed><live-remove-allowed>false</live-remove-allowed>"
        "<cimom-restart>false</cimom-restart><stateless-ready>true</stateless-ready><overlay>false</overlay>"
        f'<payloads><payload name="example-" type="vgz" size="{len(gz)}" uncompressed-size="{len(tar)}">'
        f'<checksum checksum-type="sha-256" verify-process="gunzip">{hashlib.sha256(tar).hexdigest()}</checksum>'
        f'<checksum checksum-type="sha-256">{hashlib.sha256(gz).hexdigest()}</checksum>'
        "</payload></payloads></vib>"
    )


BULLETIN_COMPONENT = (
    f"<bulletin><id>Example-NIC_{VIB_VERSION}</id><vendor>Example</vendor>"
    "<summary>Example NIC driver</summary><severity>general</severity><category>enhancement</category>"
    "<urgency>important</urgency><releaseType>extension</releaseType><description>Synthetic</description>"
    "<kbUrl>https://example.invalid/kb/1</kbUrl><contact>nobody@example.invalid</contact>"
    '<componentNameSpec name="Example-NIC" uiString="Example NIC"/>'
    f'<componentVersionSpec uiString="2.1.0-1exa" version="{VIB_VERSION}"/>'
    "<releaseDate>2024-01-02T03:04:05+00:00</releaseDate>"
    '<platforms><softwarePlatform version="8.0.0" locale="" productLineID="embeddedEsx"/></platforms>'
    f"<vibList><vibID>{VIB_ID}</vibID></vibList></bulletin>"
)

BULLETIN_LEGACY = (
    "<bulletin><id>example-tool-2024</id><vendor>Example</vendor><summary>Example tool</summary>"
    "<releaseDate>2024-01-02</releaseDate>"
    "<vibList><vib><vibID>EXA_bootbank_example-tool_1.0-1</vibID></vib></vibList></bulletin>"
)

PROFILE = (
    "<imageProfile><name>Example-8.0-standard</name><creator>Example</creator>"
    "<profileID>example-1</profileID><description>Synthetic profile</description>"
    "<acceptancelevel>partner</acceptancelevel>"
    f"<vibList><vib><vibID>{VIB_ID}</vibID></vib></vibList></imageProfile>"
)

BASE_IMAGE = {
    "releaseID": "bi:8.0.1-0.0.10000001",
    "releaseType": "baseImage",
    "vendor": "Example",
    "summary": "Synthetic base image",
    "releaseDate": "2024-01-02T03:04:05+00:00",
    "versionSpec": {"version": "8.0.1-0.0.10000001", "uiString": "8.0 U1"},
    "components": {"ESXi": "8.0.1-0.0.10000001", "Example-NIC": VIB_VERSION},
}
ADDON = {
    "releaseID": "Example-Addon:1.0-1",
    "releaseType": "addon",
    "vendor": "Example",
    "nameSpec": {"name": "Example-Addon", "uiString": "Example add-on"},
    "versionSpec": {"version": "1.0-1", "uiString": "1.0"},
    "components": {"Example-NIC": VIB_VERSION},
    "removedComponents": ["Old-NIC"],
    "supportedBaseImageVersions": ["8.0.1"],
}
MANIFEST = {
    "releaseType": "manifest",
    "vendor": "Example",
    "nameSpec": {"name": "Example-HSP", "uiString": "Example firmware"},
    "versionSpec": {"version": "1.0-1", "uiString": "1.0"},
    "hardwareSupportInfo": {"manager": {"name": "example-hsm"}, "package": {"name": "fw", "version": "1.0"}},
    "components": {},
    "supportedBaseImageVersions": ["8.0"],
}
SOLUTION = {
    "releaseType": "solution",
    "nameSpec": {"name": "Example-Solution", "uiString": "Example solution"},
    "versionSpec": {"version": "1.0-1", "uiString": "1.0"},
    "components": {"Example-Agent": [{"version": "1.0-1", "relation": ">="}]},
}


def metadata_response(vib_record):
    return (
        "<metadataResponse><version>3.0</version><timestamp>2024-01-02T03:04:05</timestamp>"
        + BULLETIN_COMPONENT.replace(f"<vibList><vibID>{VIB_ID}</vibID></vibList>", f"<vibList>{vib_record}</vibList>")
        + BULLETIN_LEGACY
        + "</metadataResponse>"
    )


def tar_bytes(members, fmt=tarfile.USTAR_FORMAT):
    """A deterministic tar archive: (path, bytes) members, None for a directory; without
    the padding to 10 KiB records (the end-of-archive blocks are kept)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as t:
        for path, data in members:
            info = tarfile.TarInfo(path)
            info.mtime = 1704164645
            info.uname = info.gname = "root"
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                t.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    data = raw.getvalue().rstrip(b"\0")
    return data + b"\0" * (-len(data) % 512 + 1024)


def fat12_image(files):
    """A 64 KiB FAT12 filesystem (512-byte sectors and clusters) holding `files`, a list of
    ("DIR/DIR/NAME.EXT", bytes) with 8.3 names: what an EFI boot image (EFIBOOT.IMG) is."""
    sectors, root_entries = 128, 16
    img = bytearray(sectors * 512)
    img[0:3] = b"\xeb\x3c\x90"
    img[3:11] = b"EXAMPLE "
    struct.pack_into("<HBHBHHBHHHII", img, 11, 512, 1, 1, 2, root_entries, sectors, 0xF8, 1, 32, 2, 0, 0)
    struct.pack_into("<BBBI", img, 36, 0x80, 0, 0x29, 0x12345678)
    img[43:54] = b"EFIBOOT    "
    img[54:62] = b"FAT12   "
    img[510:512] = b"\x55\xaa"
    fat_at, root_at, data_at = 512, 3 * 512, 4 * 512
    fat = bytearray(512)

    def set12(n, value):
        at = n * 3 // 2
        if n % 2 == 0:
            fat[at] = value & 0xFF
            fat[at + 1] = (fat[at + 1] & 0xF0) | (value >> 8)
        else:
            fat[at] = (fat[at] & 0x0F) | ((value & 0x0F) << 4)
            fat[at + 1] = value >> 4

    set12(0, 0xFF8)
    set12(1, 0xFFF)
    next_cluster = [2]

    def alloc(data):
        first = next_cluster[0]
        count = max(1, (len(data) + 511) // 512)
        for i in range(count):
            set12(first + i, first + i + 1 if i + 1 < count else 0xFFF)
            at = data_at + (first - 2 + i) * 512
            chunk = data[i * 512:(i + 1) * 512]
            img[at:at + len(chunk)] = chunk
        next_cluster[0] += count
        return first

    def entry(name, attr, cluster, size):
        stem, ext = (name, "") if name in (".", "..") else name.partition(".")[::2]
        date = 0x5821  # 2024-01-01
        fields = struct.pack("<BBBHHHHHHHI", attr, 0, 0, 0, date, date, 0, 0, date, cluster, size)
        return (stem.ljust(8) + ext.ljust(3)).encode() + fields

    # Directories: path -> list of entries; written after their children are allocated.
    tree = {"": []}
    for path, _ in files:
        parts = path.split("/")
        for i in range(1, len(parts)):
            tree.setdefault("/".join(parts[:i]), [])
    clusters = {d: alloc(b"") for d in sorted(tree) if d}
    for path, data in files:
        parent, _, name = path.rpartition("/")
        tree[parent].append(entry(name, 0x20, alloc(data), len(data)))
    for d in sorted(tree):
        if d:
            parent, _, name = d.rpartition("/")
            tree[parent].append(entry(name, 0x10, clusters[d], 0))
    for d, entries in tree.items():
        if d:
            parent = d.rpartition("/")[0]
            dots = [entry(".", 0x10, clusters[d], 0), entry("..", 0x10, clusters.get(parent, 0), 0)]
            at = data_at + (clusters[d] - 2) * 512
        else:
            dots, at = [], root_at
        raw = b"".join(dots + entries)
        img[at:at + len(raw)] = raw
    img[fat_at:fat_at + 512] = fat
    img[fat_at + 512:fat_at + 1024] = fat
    return bytes(img)


def builder_seeds(descriptor_xml):
    """imgdb and bootcfg: what the image builder reads from an installer ISO (§7.1-§7.3)."""
    db = "var/db/esximg/"
    installed = descriptor_xml.replace("</vib>", "<installdate>2024-01-02T03:04:05</installdate></vib>")
    tree = tar_bytes(
        [
            ("var/", None),
            ("var/db/", None),
            (db, None),
            (db + "bulletins/", None),
            (db + f"bulletins/Example-NIC_{VIB_VERSION}.xml", BULLETIN_COMPONENT.encode()),
            (db + "profiles/", None),
            (db + "profiles/Example-8.0-standard.xml", PROFILE.encode()),
            (db + "vibs/", None),
            (db + f"vibs/{VIB_NAME}--0123456789abcdef.xml", installed.encode()),
            (db + "vibs/broken.xml", b"<vib><name>x</name>"),
            (db + "README", b"not a document\n"),
        ]
    )
    # imgdb: the first byte selects the kind in the target: even, a tar.gz read as is;
    # odd, a tar the target gzips.
    write("imgdb", "imgdb.tgz", b"\x00" + gzip.compress(tree, mtime=0))
    write("imgdb", "imgdb.tar", b"\x01" + tree)
    write("imgdb", "legacy-bulletin.tar", b"\x01" + tar_bytes([(db + "bulletins/b.xml", BULLETIN_LEGACY.encode())]))
    long_name = db + "vibs/" + "x" * 120 + ".xml"
    write("imgdb", "gnu-long-name.tar", b"\x01" + tar_bytes([(long_name, installed.encode())], tarfile.GNU_FORMAT))
    write("imgdb", "pax.tar", b"\x01" + tar_bytes([(long_name, PROFILE.encode())], tarfile.PAX_FORMAT))
    write("imgdb", "two-members.tgz", b"\x00" + gzip.compress(tree[:1024], mtime=0) + gzip.compress(tree, mtime=0))

    write(
        "bootcfg",
        "installer.cfg",
        "bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nprefix=\nkernel=/b.b00\n"
        "kernelopt=runweasel cdromBoot\nmodules=/k.b00 --- /s.v00 --- /example.v00 --- /imgdb.tgz\n"
        "build=8.0.1-0.0.10000001\nupdated=0\n",
    )
    write(
        "bootcfg",
        "tboot-crlf.cfg",
        "bootstate=0\r\ntitle=Loading ESXi installer\r\n# comment\r\nkernel=/tboot.b00\r\n"
        "kernelopt=runweasel\r\nmodules=/b.b00 --- /useropts.gz---/k.b00\r\nbuild=\r\nnoquiet\r\n",
    )
    write("bootcfg", "pxe-prefix.cfg", "prefix=esxi/8\nkernel=b.b00\nmodules=k.b00 --- imgdb.tgz\nnoverifySig=TRUE\n")


def host_output_seeds():
    """What the collection script of `esxlcm host collect` prints: each command's output
    between `@@esxlcm:begin KEY` and `@@esxlcm:end KEY STATUS` lines (invented host)."""
    vibs = [{"ID": "EXA_bootbank_exa-nic_1.0.1.0-3exa.800.1.0.10000001", "Name": "exa-nic",
             "Version": "1.0.1.0-3exa.800.1.0.10000001", "Vendor": "EXA", "AcceptanceLevel": "PartnerSupported",
             "CreationDate": "2024-01-02", "InstallDate": "2024-01-03", "Platforms": ["host"], "Status": ""}]
    outputs = {
        "base_image": (0, {"Version": "8.0.3-0.35.24280767", "DisplayName": "ESXi", "ReleaseID": "x"}),
        "add_on": (1, "No add-on installed\n"),
        "components": (0, [{"Name": "EXA-nic", "Version": "1.0.1.0-3exa", "DisplayName": "Example NIC"}]),
        "vibs": (0, vibs),
        "hardware_platform": (0, {"UUID": "0x44 0x45 0x4c 0x4c 0x42 0x0 0x10 0x35 0x80 0x52 0xb4 0xc0 0x4f 0x4a 0x4d 0x33",
                                  "VendorName": "Example Inc.", "ProductName": "Box 1", "IPMISupported": True}),
        "system_version": (0, {"Product": "VMware ESXi", "Version": "8.0.3", "Build": "Releasebuild-24280767"}),
    }

    def printed(items):
        out = "Welcome to the example host\n"
        for key, (status, value) in items.items():
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            out += "\n@@esxlcm:begin %s\n%s\n@@esxlcm:end %s %d\n" % (key, text, key, status)
        return out

    write("host_output", "complete.txt", printed(outputs))
    govc = dict(outputs)
    govc["vibs"] = (0, {"values": [{k: (v if isinstance(v, list) else [v]) for k, v in vibs[0].items()}]})
    govc["base_image"] = (0, "ESXi:7.0.1-0.0.16850804")
    write("host_output", "govc-and-esxi70.txt", printed(govc))
    failed = dict(outputs)
    failed["vibs"] = (1, "Error: Connection failed\n")
    write("host_output", "esxcli-error.txt", printed(failed))
    write("host_output", "cut-off.txt", printed(outputs)[:-40])


def main():
    tar, gz = payload_vgz()
    bare = descriptor(tar, gz)
    vib = ar_bytes([("descriptor.xml", bare.encode()), ("sig.pkcs7", b""), ("example-", gz)])
    located = descriptor(tar, gz, (VIB_PATH, len(vib), hashlib.sha256(vib).hexdigest()))
    legacy_vib_record = (
        f"<vib><vibVersion>1.4.5</vibVersion><vibID>{VIB_ID}</vibID><name>{VIB_NAME}</name>"
        f"<version>{VIB_VERSION}</version><vendor>EXA</vendor><vibType>bootbank</vibType>"
        f"<vibFile><sourceUrl></sourceUrl><relativePath>{VIB_PATH}</relativePath>"
        f"<packedSize>{len(vib)}</packedSize></vibFile></vib>"
    )
    vmware_xml = metadata_response(legacy_vib_record)

    # xml: one document of each kind (the target tries every parser on each).
    write("xml", "index.xml", VENDOR_LIST)
    write("xml", "vendor-index.xml", VENDOR_INDEX)
    write("xml", "descriptor.xml", bare)
    write("xml", "vib-located.xml", located)
    write("xml", "bulletin-component.xml", BULLETIN_COMPONENT)
    write("xml", "bulletin-legacy.xml", BULLETIN_LEGACY)
    write("xml", "vmware.xml", vmware_xml)
    write("xml", "profile.xml", PROFILE)
    write("xml", "entities.xml", '<?xml version="1.0"?><!-- c --><vib a="&amp;&lt;&#65;"><![CDATA[x]]></vib>')
    for name, doc in [("baseimage", BASE_IMAGE), ("addon", ADDON), ("manifest", MANIFEST), ("solution", SOLUTION)]:
        write("xml", f"{name}.json", json.dumps(doc, sort_keys=True))

    # metadata_zip: a full metadata.zip and a minimal one.
    metadata = zip_bytes(
        [
            ("vmware.xml", vmware_xml),
            ("vendor-index.xml", VENDOR_INDEX),
            (f"bulletins/Example-NIC_{VIB_VERSION}.xml", BULLETIN_COMPONENT),
            ("bulletins/example-tool-2024.xml", BULLETIN_LEGACY),
            (f"vibs/{VIB_NAME}-1.xml", located),
            ("profiles/Example-8.0-standard.xml", PROFILE),
            ("baseimages/bi_8.0.1.json", json.dumps(BASE_IMAGE, sort_keys=True)),
            ("addons/Example-Addon_1.0-1.json", json.dumps(ADDON, sort_keys=True)),
            ("manifests/Example-HSP_1.0-1.json", json.dumps(MANIFEST, sort_keys=True)),
            ("solutions/Example-Solution_1.0-1.json", json.dumps(SOLUTION, sort_keys=True)),
        ]
    )
    write("metadata_zip", "metadata.zip", metadata)
    write("metadata_zip", "vmware-only.zip", zip_bytes([("vmware.xml", vmware_xml)], zipfile.ZIP_STORED))

    # bundle: an offline bundle, the same wrapped in a ZIP, a bundle with the VIB at the
    # root, and a bare VIB.
    bundle = zip_bytes(
        [("index.xml", VENDOR_LIST), ("vendor-index.xml", VENDOR_INDEX), ("metadata.zip", metadata), (VIB_PATH, vib)]
    )
    write("bundle", "offline-bundle.zip", bundle)
    write("bundle", "wrapped-bundle.zip", zip_bytes([("example-offline-bundle.zip", bundle)], zipfile.ZIP_STORED))
    root_path = f"{VIB_NAME}.vib"
    metadata_root = zip_bytes([(f"vibs/{VIB_NAME}-1.xml", located.replace(VIB_PATH, root_path)), ("vmware.xml", vmware_xml)])
    write(
        "bundle",
        "vib-at-root.zip",
        zip_bytes([("index.xml", VENDOR_LIST), ("vendor-index.xml", VENDOR_INDEX), ("metadata.zip", metadata_root), (root_path, vib)]),
    )
    write("bundle", "example.vib", vib)
    # Hostile bundles (issue #12): a bogus first copy of the VIB before the genuine one, a
    # symlink entry, and a metadata zip whose unparsed vmware.xml inflates past its header.
    head = [("index.xml", VENDOR_LIST), ("vendor-index.xml", VENDOR_INDEX), ("metadata.zip", metadata)]
    write("bundle", "duplicate-vib.zip", zip_bytes(head + [(VIB_PATH, b"bogus"), (VIB_PATH, vib)]))
    write(
        "bundle",
        "symlink-entry.zip",
        zip_bytes(head + [(VIB_PATH, vib), ("vib20/passwd.vib", b"/etc/passwd")], modes={"vib20/passwd.vib": 0o120777}),
    )
    write("metadata_zip", "forged-size.zip", forge_size(metadata, "vmware.xml", 100))

    # ar: the first byte selects the payload type in the target, the rest is the archive.
    for i, name in enumerate(["vgz", "tgz", "vzstd"]):
        write("ar", f"vib-{name}.ar", bytes([i]) + vib)
    write("ar", "odd-member.ar", b"\x04" + ar_bytes([("a", b"x"), ("bb", b"yz")]))

    # version: the target splits its input in two halves and compares them.
    for name, text in [
        ("vib", "1.0.1.0-3exa.700.1.0.15843807" + "2.1.0-1exa.800.1.0.10000001"),
        ("short", "1.14-1" + "1.15-1"),
        ("relation", ">=" + "<<"),
        ("platform", "8.0.*" + "7.0.3"),
        ("base-image", "8.0.3-0.35.24280767" + "8.0.3-0.0.24022510"),
    ]:
        write("version", name, text)

    builder_seeds(bare)
    host_output_seeds()

    # efiboot: EFI boot images (FAT) as `image build --efiboot` and `image inspect` read them.
    loader = b"MZ" + bytes(range(256)) * 3
    write("efiboot", "loader.img", fat12_image([("EFI/BOOT/BOOTX64.EFI", loader), ("EFI/BOOT/BOOT.CFG", b"kernel=/b.b00\n")]))
    write("efiboot", "no-loader.img", fat12_image([("EFI/BOOT/GRUBX64.EFI", loader)]))
    write("efiboot", "not-pe.img", fat12_image([("EFI/BOOT/BOOTX64.EFI", b"#!" + bytes(100))]))


if __name__ == "__main__":
    main()
