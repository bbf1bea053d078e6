"""Grammars of dataset lists and CSV manifests, mutated from the world's valid ones.

SYSU-MM01 ``exp/{train,val,test}_id.txt`` (comma-separated ids), RegDB ``idx/*_{1..10}.txt`` and
LLCM ``idx/train_{vis,nir}.txt`` (``relative/path label`` lines), LLCM ``idx/test_id.txt``, and
CSV manifests (``path,pid,camid,modality``).  What the authors' protocols cannot mean -- an id
with no images, an id or a line given twice, an id in both the training and the test lists --
must be refused or warned about, naming the file.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

from tests.cli.fuzz.configs import dataset_words
from tests.cli.fuzz.mutation import ROOT, Mutation, any_file

ID_LISTS = {"sysu": ("exp/train_id.txt", "exp/val_id.txt", "exp/test_id.txt"), "llcm": ("idx/test_id.txt",)}
LINE_LISTS = {
    "regdb": ("idx/train_visible_1.txt", "idx/train_thermal_1.txt", "idx/test_visible_1.txt", "idx/test_thermal_1.txt"),
    "llcm": ("idx/train_vis.txt", "idx/train_nir.txt"),
}
ROOTS = {"sysu": "dataset", "regdb": "regdb", "llcm": "llcm"}


def _ids(text: str) -> list[str]:
    return [t.strip() for line in text.splitlines() for t in line.split(",") if t.strip()]


@st.composite
def id_list(draw, layout: str, rel: str, pristine: Path, trains: bool) -> Mutation:
    """A comma-separated id list mutated: ids without images, duplicates, overlap, bad tokens."""
    text = (pristine / rel).read_text()
    ids = _ids(text)
    name = Path(rel).name
    is_test = "test" in name
    other = [f for f in ID_LISTS.get(layout, ()) if f != rel.split("/", 1)[-1] and f.rsplit("/", 1)[-1] != name]
    kind = draw(st.sampled_from(["no-images", "duplicate", "overlap", "token", "format", "file"]))
    read = trains or is_test  # a list the command uses
    if kind == "no-images":
        new = ids + [draw(st.sampled_from(["999", "0", "4242"]))]
        return Mutation(
            (("write", rel, ",".join(new).encode() + b"\n"),),
            f"{name}: an id with no images",
            bad=read,
            warn=True,
            blame=(name,),
        )
    if kind == "duplicate":
        new = ids + [draw(st.sampled_from(ids))]
        return Mutation(
            (("write", rel, ",".join(new).encode() + b"\n"),),
            f"{name}: an id twice",
            bad=read,
            warn=True,
            blame=(name,),
        )
    if kind == "overlap" and other:
        theirs = _ids((pristine / rel).parent.joinpath(Path(other[-1]).name).read_text())
        new = ids + [draw(st.sampled_from(theirs))]
        return Mutation(
            (("write", rel, ",".join(new).encode() + b"\n"),),
            f"{name}: an id of {Path(other[-1]).name} too",
            bad=trains,
            warn=True,
            blame=(name, Path(other[-1]).name),
        )
    if kind in ("token", "overlap"):
        tok = draw(st.sampled_from(["abc", "-3", "1.5", "0x10", "1180591620717411303424", "1 2", "١٢", "\x00"]))
        new = ids[:1] + [tok] + ids[1:]
        bad = True  # not an id, or one no tensor holds
        return Mutation(
            (("write", rel, ",".join(new).encode() + b"\n"),), f"{name}: token {tok!r}", bad=bad, blame=(name,)
        )
    if kind == "format":
        variant = draw(st.sampled_from(["bom", "crlf", "spaces", "lines", "trailing-comma", "blank", "semicolons"]))
        body = {
            "bom": "\ufeff" + ",".join(ids),
            "crlf": ",".join(ids) + "\r\n",
            "spaces": " , ".join(ids) + " ",
            "lines": "\n".join(ids),
            "trailing-comma": ",".join(ids) + ",",
            "blank": "\n\n" + ",".join(ids) + "\n\n",
            "semicolons": ";".join(ids),
        }[variant]
        bad = variant == "semicolons" and len(ids) > 1
        return Mutation((("write", rel, body.encode()),), f"{name}: {variant}", bad=bad, blame=(name,))
    return _shorter_list(draw(any_file(rel, text.encode(), structured=True, what=name)))


def _shorter_list(m: Mutation) -> Mutation:
    """A list cut short but not emptied may be a valid shorter list (``4,5`` cut at byte 2 is
    ``4,``: one test id): no reader can tell, so either outcome is right (in one line)."""
    cut = "truncated at byte" in m.note and m.ops and m.ops[0][0] == "write" and bytes(m.ops[0][2]).strip()
    return m.but(bad=False, blame=()) if cut else m


@st.composite
def line_list(draw, layout: str, rel: str, pristine: Path, trains: bool) -> Mutation:
    """A ``path label`` list mutated: duplicated lines, missing images, bad labels and paths."""
    lines = [ln for ln in (pristine / rel).read_text().splitlines() if ln.strip()]
    name = Path(rel).name
    read = trains or "test" in name
    kind = draw(st.sampled_from(["duplicate", "missing-image", "label", "path", "fields", "format", "file"]))
    body = None
    bad, warn, note = False, False, ""
    if kind == "duplicate":
        line = draw(st.sampled_from(lines))
        body, bad, warn, note = lines + [line], read, True, "a line twice"
    elif kind == "missing-image":
        path, label = lines[0].split()
        body, bad, note = lines + [f"{path}.missing.bmp {label}"], read, "an image that does not exist"
    elif kind == "label":
        tok = draw(st.sampled_from(["abc", "-1", "1.5", "99999999999999999999999", ""]))
        path = lines[0].split()[0]
        body, bad, note = [f"{path} {tok}"] + lines[1:], read, f"label {tok!r}"
    elif kind == "path":
        bad_path = draw(st.sampled_from(["/etc/passwd", "../../../etc/passwd", "Visible/../../x.bmp", "nul\x00.bmp"]))
        label = lines[0].split()[1]
        body, bad, note = [f"{bad_path} {label}"] + lines[1:], read, f"path {bad_path!r}"
    elif kind == "fields":
        body, bad, note = [lines[0] + " extra"] + lines[1:], read, "a third field"
    elif kind == "format":
        variant = draw(st.sampled_from(["bom", "crlf", "tabs", "blank"]))
        text = "\n".join(lines) + "\n"
        text = {
            "bom": "\ufeff" + text,
            "crlf": text.replace("\n", "\r\n"),
            "tabs": text.replace(" ", "\t"),
            "blank": "\n" + text + "\n\n",
        }[variant]
        return Mutation((("write", rel, text.encode()),), f"{name}: {variant}", blame=(name,))
    if body is None:
        return _shorter_list(draw(any_file(rel, (pristine / rel).read_bytes(), structured=True, what=name)))
    data = ("\n".join(body) + "\n").encode()
    return Mutation((("write", rel, data),), f"{name}: {note}", bad=bad, warn=warn, blame=(name,))


@st.composite
def dataset(draw, pristine: Path, trains: bool) -> Mutation:
    """A dataset of the world (SYSU, RegDB or LLCM layout) read as an official one, one of its
    lists mutated (or none: it must then be read without complaint)."""
    if trains and draw(st.integers(0, 5)) == 0:  # the synthetic dataset, regenerated over the user's files
        return Mutation(
            (("write", "dataset/NOTES.txt", b"mine\n"), ("write", "dataset/myruns/r.txt", b"mine\n")),
            "the user's files in the synthetic dataset + data.synth.force=true with other settings",
            words=("data.synth.force=true", "data.synth.seed=7"),
            sentinels=("dataset/NOTES.txt", "dataset/myruns/r.txt"),
            allow=("dataset",),
            bad=True,
            blame=("NOTES.txt", "myruns"),
        )
    layout = draw(st.sampled_from(["sysu", "regdb", "llcm"]))
    root = ROOTS[layout]
    files = [(f, "id") for f in ID_LISTS.get(layout, ())] + [(f, "line") for f in LINE_LISTS.get(layout, ())]
    words = dataset_words(layout)
    if draw(st.integers(0, 6)) == 0:
        return Mutation(words=words, note=f"the {layout} dataset as it is", ok=True)
    f, kind = draw(st.sampled_from(files))
    rel = f"{root}/{f}"
    m = draw(id_list(layout, rel, pristine, trains) if kind == "id" else line_list(layout, rel, pristine, trains))
    # a command that needs a synthetic dataset (the demo) may refuse data.synth=null, naming it
    return m.but(words=m.words + words, note=f"{layout}: {m.note}", blame=m.blame + ("data.synth",))


# --------------------------------------------------------------------------- CSV manifests
@st.composite
def manifest(draw, rel: str, pristine: Path) -> Mutation:
    """The world's CSV manifest mutated (its header, rows, encoding), or as it is."""
    lines = (pristine / rel).read_text().splitlines()
    name = Path(rel).name
    header, rows = lines[0], lines[1:]
    kind = draw(st.sampled_from(["valid", "bom", "header", "row", "duplicate", "missing", "file"]))
    ok, bad, note = False, False, kind
    if kind == "valid":
        variant = draw(st.sampled_from(["as-is", "crlf", "reordered", "extra-column", "absolute", "case"]))
        if variant == "crlf":
            text = "\r\n".join(lines) + "\r\n"
        elif variant == "reordered":
            text = "\n".join(["modality,camid,pid,path"] + [",".join(reversed(r.split(","))) for r in rows]) + "\n"
        elif variant == "extra-column":
            text = "\n".join([header + ",note"] + [r + ",x" for r in rows]) + "\n"
        elif variant == "absolute":
            text = "\n".join([header] + [f"{ROOT}/{r}" for r in rows]) + "\n"
        elif variant == "case":
            text = (
                "\n".join([header.upper()] + [r.replace("visible", "RGB").replace("infrared", "IR") for r in rows])
                + "\n"
            )
        else:
            text = "\n".join(lines) + "\n"
        ok, note = True, f"manifest {variant}"
    elif kind == "bom":
        text, ok, note = "\ufeff" + "\n".join(lines) + "\n", True, "manifest with a UTF-8 BOM (as Excel saves it)"
    elif kind == "header":
        new = draw(st.sampled_from(["path,pid,camid", "file,pid,camid,modality", "", "path;pid;camid;modality"]))
        text, bad, note = "\n".join([new] + rows) + "\n", True, f"header {new!r}"
    elif kind == "row":
        row = rows[0].split(",")
        field = draw(st.integers(1, 3))
        tok = draw(st.sampled_from(["abc", "-1", "", "1.5", "thermal-ish", "99999999999999999999999"]))
        row[field] = tok
        bad = True
        text, note = "\n".join([header, ",".join(row)] + rows[1:]) + "\n", f"row 2 column {field} = {tok!r}"
        if field == 1 and tok == "-1":
            bad = False  # a negative pid may mean "unlabelled" in a gallery
    elif kind == "duplicate":
        text, bad, note = "\n".join([header] + rows + rows[:1]) + "\n", True, "a row twice"
    elif kind == "missing":
        text, bad, note = (
            "\n".join([header, "nowhere/0001.jpg,1,1,visible"] + rows) + "\n",
            True,
            "a row for a missing image",
        )
    else:
        return draw(any_file(rel, (pristine / rel).read_bytes(), structured=True, what=name))
    return Mutation((("write", rel, text.encode()),), f"{name}: {note}", bad=bad, ok=ok, blame=(name,))
