"""The kinds of file and folder vireid writes: their names, the suffixes they take, and whether
they are folders.  :mod:`vireid.utils.marks` marks and recognises them; :mod:`vireid.utils.outputs`
decides where each may be written."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """A kind of output: what it is called, the suffixes it takes, whether it is a folder.

    ``folder``: None for a file; ``"add"`` for a folder vireid writes files into (each file is
    checked on its own); ``"replace"`` for a folder replaced as a whole.  ``staged``: a file of
    such a folder, written only into its staging folder (:func:`vireid.utils.outputs.staging_dir`)
    and marked as what it is there.
    """

    id: str
    noun: str  # with its article: "a features file"
    suffixes: tuple[str, ...] = ()
    folder: str | None = None
    staged: bool = False

    def suffix_text(self) -> str:
        s = list(self.suffixes)
        return s[0] if len(s) == 1 else ", ".join(s[:-1]) + " or " + s[-1]


CHECKPOINT = Kind("checkpoint", "a vireid model checkpoint", (".safetensors",))
RUN_CHECKPOINT = Kind("run-checkpoint", "a training run's checkpoint", (".safetensors",))
FEATURES = Kind("features", "a features file", (".safetensors",))
ONNX = Kind("onnx", "an ONNX model", (".onnx",))
PICTURE = Kind("picture", "a picture", (".png", ".pdf", ".svg"))
RUN_METRICS = Kind("run-metrics", "a training run's metrics", (".json",))
TEST_METRICS = Kind("test-metrics", "the metrics of vireid test", (".json",))
EVALUATION = Kind("evaluation", "the metrics of vireid evaluate", (".json",))
UNTRAINED_METRICS = Kind("untrained-metrics", "the untrained model's metrics of vireid demo", (".json",))
ABLATION_RESULTS = Kind("ablation-results", "an ablation's results", (".json",))
ABLATION_REPORT = Kind("ablation-report", "an ablation's report", (".md",))
ABLATION_SUMMARY = Kind("ablation-summary", "an ablation's summary", (".json",))
REPORT_RESULTS = Kind("report-results", "the results of vireid report", (".json",))
REPORT_MARKDOWN = Kind("report-markdown", "the Markdown of vireid report", (".md",))
REPORT_TABLE = Kind("report-table", "the LaTeX table of vireid report", (".tex",))
RUN_CONFIG = Kind("run-config", "a training run's config", (".yaml",))
TRAINING_LOG = Kind("training-log", "a training log", (".jsonl",))
CHECKPOINT_POINTER = Kind("checkpoint-pointer", "a checkpoint pointer", (".json",))
TRAINING_STATE = Kind("training-state", "a training state", (".pt",))
DEMO_MARKER = Kind("demo-marker", "a demo run's marker", (".json",))
RUN_LOCK = Kind("run-lock", "a run folder's lock", ())
RUN_FOLDER = Kind("run-folder", "a training run folder", folder="add")
TEST_FOLDER = Kind("test-folder", "a vireid test folder", folder="add")
ABLATION_FOLDER = Kind("ablation-folder", "an ablation folder", folder="add")
REPORT_FOLDER = Kind("report-folder", "a vireid report folder", folder="add")
DEMO_FOLDER = Kind("demo-folder", "a demo run folder", folder="replace")
DATASET = Kind("dataset", "a synthetic dataset", folder="replace")
INDEX = Kind("index", "a gallery index", folder="replace")
#: a file inside a private temporary folder (:func:`staging_dir`), renamed into place as a whole:
#: one that carries no mark (a list, faiss's index), or one marked as the folder's member it is
STAGED = Kind("staged", "a file being staged", staged=True)
INDEX_FEATS = Kind("index-feats", "a gallery index's descriptors", (".safetensors",), staged=True)
INDEX_META = Kind("index-meta", "a gallery index's metadata", (".json",), staged=True)
SYNTH_META = Kind("synth-meta", "a synthetic dataset's settings", (".json",), staged=True)

KINDS: dict[str, Kind] = {
    k.id: k
    for k in (
        CHECKPOINT,
        RUN_CHECKPOINT,
        FEATURES,
        ONNX,
        PICTURE,
        RUN_METRICS,
        TEST_METRICS,
        EVALUATION,
        UNTRAINED_METRICS,
        ABLATION_RESULTS,
        ABLATION_REPORT,
        ABLATION_SUMMARY,
        REPORT_RESULTS,
        REPORT_MARKDOWN,
        REPORT_TABLE,
        RUN_CONFIG,
        TRAINING_LOG,
        CHECKPOINT_POINTER,
        TRAINING_STATE,
        DEMO_MARKER,
        RUN_LOCK,
        RUN_FOLDER,
        TEST_FOLDER,
        ABLATION_FOLDER,
        REPORT_FOLDER,
        DEMO_FOLDER,
        DATASET,
        INDEX,
    )
}
#: marks of vireid files that are not outputs of a command (they live in folders vireid replaces whole)
MEMBER_KINDS: dict[str, Kind] = {k.id: k for k in (INDEX_FEATS, INDEX_META, SYNTH_META)}


def describe(kind_id: str) -> str:
    """``"a features file"`` for a kind id."""
    kind = KINDS.get(kind_id)
    kind = kind or MEMBER_KINDS.get(kind_id)
    return kind.noun if kind is not None else f"a {kind_id} file"
