"""Patches to Brian2's generated C++ standalone projects that make them faster, not different.

Five patches, applied to one-thread ``cpp_standalone`` projects after Brian2 generates them
(`bioclf.brian.backends.build`), and a sixth that spares rebuilds. All leave every result
bit-identical.

Ranges of synapses in the spike queue
    Brian2 2.10's C++ spike queue files every delayed synapse separately: at each presynaptic
    spike it appends the synapse's index, with an integer modulo, to the list of the step when
    it is due; every step the synaptic pathway copies that list (``SynapticPathway::peek``)
    and the synaptic code reads the synapse indices from the copy. In the STDP network, with
    784 x N input synapses and ~2,200 input spikes per sample, that is ~0.9 million indices
    written, copied and read back per sample at N=400. The patched queue keeps, for each step,
    ``[first, end)`` *ranges* of synapse indices instead: a source neuron's synapses that share
    a delay and have consecutive indices are one range (the STDP network creates each input's
    synapses sorted by delay, so one input spike makes about as many ranges as there are
    distinct delays). The runs are found once per run in ``prepare``. The synaptic code objects
    process a step's synapses in the same order as before (indices filed one by one first,
    then the ranges in the order they were pushed); Brian2's loop body becomes a lambda that
    two kinds of loop call. Where the step's ranges are short on average (~5 synapses in the STDP
    network at N=100), a loop per range ended in a mispredicted branch about once per range:
    the synapses are then listed first, a range of up to 16 with one fixed-length store, and
    processed in one loop; as each range is listed, the first cache line of each array the
    code reads per synapse (weights, target indices) is requested, so that the loop finds
    them in the cache. Longer ranges (~19 at N=400) are processed range by range. The queue
    moves to its next slot with a comparison instead of an integer division. Code that still
    calls ``peek()`` gets the ranges expanded into the plain list, as before.

Vectorisable refractoriness
    Brian2's state updater tests ``_timestep(t - lastspike, dt) >= _timestep(refractory, dt)``
    for every neuron and step; ``_timestep`` converts a double to a 64-bit integer, which x86
    has no vector instruction for before AVX-512, so the whole update loop stays scalar. The
    test is rewritten as the same comparison of the same double quotient with the (integer)
    number of refractory steps, which is equivalent (truncation of a quotient ``q`` gives
    ``>= k`` exactly when ``q >= k``, for ``k >= 1``; for ``k <= 0`` the neuron is never
    refractory, as ``q`` is then positive), and the loop is marked free of aliasing (a group's
    state arrays never overlap), so the compiler vectorises it. The 1-byte ``not_refractory``
    flags, which the threshold test reads, are stored in a loop of their own after it, from
    the same expression: packing them among the 8-byte stores of the update loop made the
    compiler's vector code spill registers (a third of the excitatory update's time on Zen 1).

Thresholds in two passes
    Brian2's threshold loop tests each neuron and files it in the event array when the test
    holds, a loop with a conditional store that the compiler leaves scalar (~1 ns per neuron
    and step). Most steps have no event at all: excitatory and inhibitory neurons rarely
    cross threshold, and no pixel fires in the rest period. The patched loop evaluates the
    condition of every neuron into a byte mask first (the same expression; vectorised), then
    files the events of the set bytes in order, skipping 64 neurons at a time where none is
    set and finding the set bytes of 8 neurons by their lowest set bit. A condition of the
    form ``_lio_k && (...)``, whose first factor Brian2 computed once before the loop, skips
    both passes where that factor is false (the input group's "presentation part of the
    slot", false for the whole rest period). Only conditions whose code calls no function
    with side effects (such as random numbers) and reads what an event changes only for its
    own neuron are rewritten; the others, and groups of fewer than 16 neurons, stay as Brian2
    wrote them.

Calendar thresholds
    The STDP network's input pixels fire at the step stored in their integer ``next_step``
    (drawn ahead, see `bioclf.stdp.network`): the condition ``guard && (key == next_step)``,
    both factors computed once per step. Instead of testing 784 pixels per step for the ~3
    that fire, the patched threshold keeps the neurons filed under their value of the
    variable and takes the file of the step's key, in index order. A neuron's value changes
    only where code writes the variable: the reset, for this threshold's events alone (the
    events of one call are filed again at the next), and any other code that uses the
    array -- the start-of-presentation draw, code of another run, main.cpp before each run --,
    which is made to set a flag at its start: the threshold then files every neuron anew.
    Each candidate is checked against the condition before it is filed as an event. Applied
    only where the reset is known to write the events' own values and every other user of
    the array can set the flag; other thresholds keep the two passes (above).

One clock per step in the scheduler
    At every step Brian2's scheduler looks each of the network's code objects' clocks up in a
    ``std::set`` of the clocks due, and rebuilds that set (a tree node allocated per clock).
    Most steps run the default clock alone: the patched scheduler then compares each object's
    clock with it, and rebuilds the set only when the clocks due change.

Clocks reset in name order
    Before a run, ``main.cpp`` resets each clock's step and time, in the order of a Python
    set, which changes from one process to the next: every build of an unchanged network
    rewrote ``main.cpp``, and make compiled and linked it again. The resets (independent
    stores) are sorted by clock name, so the file keeps its text and modification time.
    brian2cuda's projects are given the same (`patch_cuda_project`): ``main.cu`` resets its
    clocks, and adds its random-number buffer once per clock, in that set's order, and the
    synapse-creation code resizes two variables of one name (two pathways' delays) in the
    order of a set of variables. (Its monitor code lists the recorded variables in the order
    of a set of names: `bioclf.brian.backends.record_in_name_order` sorts them before code
    generation.) Unsorted, each process that built an unchanged CUDA network compiled
    main.cu and a few code objects again.

With OpenMP, Brian2 splits each pathway's queue between threads and its code has other forms,
so those projects are left alone, but for the order of their clock resets. If this Brian2
version's generated code differs from what the patches expect, the project is left as Brian2
wrote it (its clock resets sorted alike): it then works as before, only slower.
"""

from __future__ import annotations

import hashlib
import os
import re
from importlib import resources
from pathlib import Path

QUEUE_MARK = "bioclf: ranges of synapses"
REFRACTORY_MARK = "bioclf: vectorisable refractoriness"
THRESHOLD_MARK = "bioclf: threshold in two passes"
CLOCKS_MARK = "bioclf: clocks reset in name order"
SCHEDULER_MARK = "bioclf: one clock per step"
CALENDAR_MARK = "bioclf: calendar threshold"
BUFFERS_MARK = "bioclf: random-number buffers in clock-name order"
RESIZES_MARK = "bioclf: resizes in array-name order"
_MARKS = (
    QUEUE_MARK,
    REFRACTORY_MARK,
    THRESHOLD_MARK,
    CLOCKS_MARK,
    SCHEDULER_MARK,
    CALENDAR_MARK,
    BUFFERS_MARK,
    RESIZES_MARK,
)


def _patched(text: str) -> bool:
    return any(mark in text for mark in _MARKS)


def _blocks(name: str) -> list[tuple[str, str]]:
    """``(kind, text)`` of each block of the C++ file `name` in ``bioclf/brian/patches``.

    A block starts after a line ``//// <kind>[: comment]`` and ends before the next such line;
    the newline just before that line is not part of it. Lines before the first are comments.
    """
    text = resources.files("bioclf.brian").joinpath("patches", name).read_text()
    parts = re.split(r"^//// ([a-z]+)(?::[^\n]*)?\n", text, flags=re.M)
    return [(kind, body[:-1]) for kind, body in zip(parts[1::2], parts[2::2], strict=True)]


def _texts(name: str, kind: str) -> list[str]:
    return [text for k, text in _blocks(name) if k == kind]


def _find_replace(name: str) -> tuple[tuple[str, str], ...]:
    """(Brian2's text, its replacement) pairs of the patch file `name`."""
    return tuple(zip(_texts(name, "find"), _texts(name, "replace"), strict=True))


def _replace_all(text: str, pairs) -> str | None:
    """`text` with every pair replaced, or None unless each text is found exactly once."""
    if not all(text.count(old) == 1 for old, _ in pairs):
        return None
    for old, new in pairs:
        text = text.replace(old, new)
    return text


#: The patches of ``brianlib/spikequeue.h`` and of the scheduler (``network.cpp``).
_QUEUE_PATCHES = _find_replace("spikequeue.h")
_SCHEDULER_PATCHES = _find_replace("network.cpp")

# The one-thread synaptic pathway hands the queue's lists out without the copy of ``peek``.
(_PATHWAY_ONE_THREAD,) = _texts("synapses_classes.h", "when")
_PATHWAY_PATCH = (
    _texts("synapses_classes.h", "find")[0],
    _texts("synapses_classes.h", "replace")[0],
)

# The loop of Brian2's synaptic code template (synapses.cpp), for one pathway.
_LOOP = re.compile(
    r"""    std::vector<int> \*_spiking_synapses = (?P<path>\w+)\.peek\(\);
    const int _num_spiking_synapses = _spiking_synapses->size\(\);
(?P<gap>[ \n]*)    \{
        for\(int _spiking_synapse_idx=0;
            _spiking_synapse_idx<_num_spiking_synapses;
            _spiking_synapse_idx\+\+\)
        \{
            const size_t _idx = \(\*_spiking_synapses\)\[_spiking_synapse_idx\];
"""
)
(_RANGE_LOOP,) = _texts("synapses_loop.cpp", "replace")
(_RANGE_LOOP_AFTER,) = _texts("synapses_loop.cpp", "after")
_LOOP_END = "}\n    }"  # the braces that close Brian2's loop and the block around it
# The arrays the code reads per synapse are fetched into the cache as their ranges are listed:
# the synapses of a range lie together, but the ranges do not (~3% of STDP training).
(_PREFETCH,) = _texts("synapses_loop.cpp", "prefetch")
_PREFETCH_AT = "// (the range's first cache line of each array the code reads per synapse)\n"
_PER_SYNAPSE = re.compile(r"_ptr_array_(\w+)\[_idx\]")


def _patch_synaptic_loop(text: str) -> str | None:
    """Brian2's loop over the synapses due, its body made a lambda called on the single
    indices and the ranges (see the template), or None for a loop of another form."""
    found = list(_LOOP.finditer(text))
    if len(found) != 1:
        return None
    start = end = found[0].end()
    depth = 0  # the body ends at the brace that closes the loop
    while end < len(text) and (text[end] != "}" or depth):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        end += 1
    if not text.startswith(_LOOP_END, end):
        return None
    body = text[start:end].rstrip()
    arrays = sorted(set(_PER_SYNAPSE.findall(body)))
    lines = "".join(_PREFETCH.format(array=array) + "\n" for array in arrays)
    after = _RANGE_LOOP_AFTER.replace(_PREFETCH_AT, _PREFETCH_AT + lines)
    head = found[0].expand(_RANGE_LOOP)
    rest = text[end + len(_LOOP_END) :]
    return text[: found[0].start()] + head + "\n" + body + "\n" + after + rest


# Brian2's refractoriness test in state updaters, and the equivalent vectorisable test.
_REFRACTORY = re.compile(r"( *)not_refractory = _timestep\(t - lastspike, dt\) >= (\w+);")
(_REFRACTORY_NEW,) = _texts("refractory.cpp", "replace")
_UPDATE_LOOP = "    for(int _idx=0; _idx<_N; _idx++)\n"
_FLAG_STORE = re.compile(r"\n *_ptr_array_(\w+)_not_refractory\[_idx\] = not_refractory;\n")
(_FLAG_LOOP,) = _texts("refractory.cpp", "flags")


def _patch_state_updater(text: str) -> str | None:
    """The state updater with the vectorisable refractoriness test, or None (unknown form)."""
    if text.count(_UPDATE_LOOP) != 1:
        return None
    start = text.index(_UPDATE_LOOP)
    end = text.find("\n    }\n", start)  # the update loop's closing brace
    if end < 0:
        return None
    end += len("\n    }\n")
    loop = text[start:end]
    found, stores = _REFRACTORY.findall(loop), _FLAG_STORE.findall(loop)
    if len(found) != 1 or len(stores) != 1 or len(_REFRACTORY.findall(text)) != 1:
        return None
    group, steps = stores[0], found[0][1]
    lastspike = f"const double lastspike = _ptr_array_{group}_lastspike[_idx];"
    if loop.count(lastspike) != 1 or f"_ptr_array_{group}_lastspike[_idx] =" in text:
        return None
    loop = _FLAG_STORE.sub("\n", _REFRACTORY.sub(_REFRACTORY_NEW, loop))
    flags = _FLAG_LOOP.format(group=group, steps=steps)
    return text[:start] + "    #pragma GCC ivdep\n" + loop + flags + text[end:]


# Brian2's threshold loop (threshold.cpp): `body` computes the condition, `block` files an event.
_THRESHOLD = re.compile(
    r"""    long _count = 0;
    for\(size_t _idx=0; _idx<N; _idx\+\+\)
    \{
        const size_t _vectorisation_idx = _idx;
(?P<body>(?:(?!if\(_cond\)).*\n)*?)        if\(_cond\) \{
(?P<block>(?: {12}\S.*\n)+)        \}
    \}
    (?P<space>_ptr_array_\w+)\[N\] = _count;
"""
)
(_THRESHOLD_NEW,) = _texts("threshold.cpp", "replace")
# What the condition's code may call: functions without side effects (a random number drawn
# in a condition must not be drawn twice).
_PURE_CALLS = {"_brian_mod", "_brian_floordiv", "_clip", "int", "double", "exp", "log", "fabs"}
_THRESHOLD_MIN_N = 16
_CALL = re.compile(r"([A-Za-z_]\w*)\s*\(")
_INVARIANT_GUARD = re.compile(r"\bconst char _cond = (_lio_\d+) && ")
_STORE = re.compile(r"\]\s*=[^=]|\+\+|--|[-+*/]=")


def _declared(code: str, name: str, type_pattern: str = r"\w+") -> bool:
    """Whether `code` declares `name` as a constant of a type `type_pattern` matches (such as
    Brian2's loop invariants ``_lio_k``, computed once before the loop)."""
    return re.search(rf"^ *const {type_pattern} {name} = ", code, re.M) is not None


def _patch_threshold(text: str) -> str | None:
    """The threshold loop in two passes, or None (an unknown form, or a condition whose
    result could depend on the events filed before it, see the module's docstring).

    The first pass evaluates the condition of every neuron into a byte mask, a loop without
    stores into the event array that the compiler vectorises; the second files the events of
    the set bytes, in order, skipping 64 neurons at a time where none is set. Most steps have
    no event at all (no excitatory or inhibitory neuron crosses threshold; no pixel fires in
    the rest period), where Brian2's loop tests and branches neuron by neuron.
    """
    found = list(_THRESHOLD.finditer(text))
    size = re.search(r"const int64_t N = (\d+);", text)
    if len(found) != 1 or size is None or int(size[1]) < _THRESHOLD_MIN_N:
        return None  # (one-neuron controllers gain nothing from it)
    body, block = found[0]["body"], found[0]["block"]
    calls = set(_CALL.findall(body)) - {"if"}
    if not calls <= _PURE_CALLS or _STORE.search(body):
        return None  # the condition's code has side effects
    if (
        set(re.findall(r"\b[A-Za-z_]\w*", block))
        - {"_idx", "_count", "false", "true"}
        - set(re.findall(r"\b_ptr_array_\w+", block))
    ):
        return None  # the event's code does more than file it
    for name in re.findall(r"\b(_ptr_array_\w+)\[_idx\] =", block):
        if re.search(rf"\b{name}\[(?!_idx\])", body):
            return None  # the condition reads what an event of another neuron changes
    new = (
        _THRESHOLD_NEW.replace("\\g<body>\n", body)
        .replace("\\g<block>\n", "".join(" " * 8 + line for line in block.splitlines(True)))
        .replace("\\g<space>", found[0]["space"])
    )
    # A condition `_lio_k && (...)`, with _lio_k computed once before the loop (Brian2's
    # loop-invariant factor), holds for no neuron where _lio_k is false: e.g. the input's
    # "in the presentation part of the slot", false for the whole rest period.
    guard = _INVARIANT_GUARD.search(body)
    if guard and _declared(text[: found[0].start()], guard[1]):
        inner = "".join("    " + line if line.strip() else line for line in new.splitlines(True))
        new = (
            f"    if(!{guard[1]})  // {THRESHOLD_MARK}: no neuron's condition can hold\n"
            f"        {found[0]['space']}[N] = 0;\n    else\n    {{\n{inner}\n    }}"
        )
    return text[: found[0].start()] + new + "\n" + text[found[0].end() :]


(_CALENDAR_NEW,) = _texts("threshold.cpp", "calendar")
# The condition of a calendar threshold, `guard && (key == var)` with both factors Brian2's
# loop-invariant ones, read from the neuron's integer variable and nothing else.
_CALENDAR_BODY = re.compile(
    r"\s*const int32_t (?P<name>\w+) = (?P<var>_ptr_array_(?P<array>\w+))\[_idx\];\n"
    r"\s*const char _cond = (?P<guard>_lio_\d+) && "
    r"\((?:(?P<key>_lio_\d+) == (?P=name)|(?P=name) == (?P<key2>_lio_\d+))\);\s*"
)
_FUNCTION_START = re.compile(r"^void _(?:run|before_run|after_run)_\w+\(\)\n\{\n", re.M)
# (Brian2 numbers the code objects of a network's second and later runs: ``..._1``)
_THRESHOLD_FILE = re.compile(r"(?!after_run_)\w+_thresholder_codeobject(?:_\d+)?\.cpp")
# (``network_1`` where objects of a network built earlier in the process were still alive)
_NETWORK_RUN = re.compile(r"^( *)network(?:_\d+)?\.run\(", re.M)
_MAIN_START = "\nint main(int argc, char **argv)"


def _plan_calendars(texts: dict[Path, str]) -> tuple[dict[Path, str], dict[Path, list[str]]]:
    """Calendar thresholds: the new texts of the threshold code objects that get one, and the
    flags that each other file must set (`_mark_stale`). Only a threshold of the form
    ``guard && (key == var)`` whose array ``var`` the reset writes for the events alone, and
    every other writer of which can set the flag, gets one."""
    main = next((p for p in texts if p.name == "main.cpp"), None)
    if main is None or not _NETWORK_RUN.search(texts[main]) or _MAIN_START not in texts[main]:
        return {}, {}
    thresholds: dict[Path, str] = {}
    stale: dict[Path, list[str]] = {}
    for path, text in texts.items():
        if not _THRESHOLD_FILE.fullmatch(path.name):
            continue
        found = list(_THRESHOLD.finditer(text))
        function = _FUNCTION_START.search(text)
        if len(found) != 1 or function is None or function.start() > found[0].start():
            continue
        cond, space = _CALENDAR_BODY.fullmatch(found[0]["body"]), found[0]["space"]
        if cond is None or found[0]["block"].strip() != f"{space}[_count++] = _idx;":
            continue
        key, before = cond["key"] or cond["key2"], text[: found[0].start()]
        if not (
            _declared(before, cond["guard"], "char")
            and _declared(before, key, "int(?:32|64)_t")
            and _declared(before, "N", "int64_t")
        ):
            continue
        resetter = path.with_name(path.name.replace("_thresholder_", "_resetter_", 1))
        if resetter in texts and not _resets_events_only(texts[resetter], space, cond["var"]):
            continue
        writers = [
            p
            for p, t in texts.items()
            if p.parent == path.parent
            and p not in (path, resetter)
            and _uses_array(t, cond["array"])
        ]
        if not all(_FUNCTION_START.search(texts[p]) for p in writers):
            continue  # code that names the array, and where to set the flag is unknown
        flag = f"bioclf_calendar_stale_{path.stem}"  # (a run's code objects are its own)
        new = (
            _CALENDAR_NEW.replace("\\g<guard>", cond["guard"])
            .replace("\\g<key>", key)
            .replace("\\g<var>", cond["var"])
            .replace("\\g<space>", space)
            .replace("\\g<flag>", flag)
        )
        thresholds[path] = (
            "#include <algorithm>\n"
            + text[: function.start()]
            + f"// {CALENDAR_MARK}: set by all code that may change {cond['array']}\n"
            + f"bool {flag} = true;\n"
            + text[function.start() : found[0].start()]
            + new
            + "\n"
            + text[found[0].end() :]
        )
        for p in [*writers, main]:
            stale.setdefault(p, []).append(flag)
    return thresholds, stale


def _uses_array(text: str, array: str) -> bool:
    """Whether `text` uses the array other than by declaring its pointer (which Brian2 does
    for every variable the code's expressions name, e.g. in a threshold's ``after_run``)."""
    declaration = rf"^ *\w+\* *(?:__restrict +)?_ptr_array_{array} = _array_{array};\n"
    return re.search(rf"_array_{array}\b", re.sub(declaration, "", text, flags=re.M)) is not None


def _resets_events_only(text: str, space: str, var: str) -> bool:
    """Whether the reset code `text` loops over the events of `space` and writes `var` only
    at the event's index."""
    return (
        f"const int32_t *_events = {space};" in text
        and "const size_t _idx = _events[_index_events];" in text
        and len(_FUNCTION_START.findall(text)) == 1
        and all(m == f"{var}[_idx] =" for m in re.findall(rf"{var}\[[^\]]*\]\s*=(?!=)", text))
        and not re.search(rf"{var}\[[^\]]*\]\s*(?:[-+*/%&|^]=|\+\+|--)", text)
    )


def _mark_stale(text: str, flags: list[str], main: bool) -> str:
    """`text` that sets each of `flags` at the start of each of its functions (main.cpp:
    before each run)."""
    declare = "".join(f"extern bool {flag};  // {CALENDAR_MARK}\n" for flag in flags)
    sets = "".join(f"{{indent}}{flag} = true;  // {CALENDAR_MARK}\n" for flag in flags)
    if main:
        text = _NETWORK_RUN.sub(lambda m: sets.format(indent=m[1]) + m[0], text)
        return text.replace(_MAIN_START, "\n" + declare + _MAIN_START[1:], 1)
    text = _FUNCTION_START.sub(lambda m: m[0] + sets.format(indent="    "), text)
    first = _FUNCTION_START.search(text)
    return text[: first.start()] + declare + text[first.start() :]


# Brian2 resets the clocks before a run in the order of a Python set, which differs from one
# process to the next: main.cpp then changes at every build and is compiled and linked again.
# (a clock is named by its owner, or by the user: "defaultclock", "kick_clock", "slow")
_CLOCK_RESETS = re.compile(r"(?:^ *_array_\w+_(?:timestep|t)\[0\] = [^;\n]*;\n)+", re.M)
_CLOCK_RESET = re.compile(r"^ *_array_(\w+)_(timestep|t)\[0\].*\n", re.M)


def _sort_blocks(text: str, blocks, entry, key, mark: str) -> str | None:
    """`text` with each run of independent statements (a match of `blocks`) that concerns more
    than one name put in `key` order under a comment `mark`, or None where there is none.

    `entry` matches one statement in a run (its first group: the name); `key` maps that match
    to (name, rank among the name's statements)."""
    runs = []
    for run in blocks.finditer(text):
        entries = list(entry.finditer(run[0]))
        if len({key(e)[0] for e in entries}) > 1:
            runs.append((run, entries))
    for run, entries in reversed(runs):
        indent = run[0][: len(run[0]) - len(run[0].lstrip())]
        ordered = "".join(e[0] for e in sorted(entries, key=key))
        new = f"{indent}// {mark} (bioclf.brian.cpp_patches)\n{ordered}"
        text = text[: run.start()] + new + text[run.end() :]
    return text if runs else None


def _sort_clock_resets(text: str) -> str | None:
    """main.cpp (or main.cu) with each block of clock resets in clock-name order: each
    clock's step, then its time, as Brian2 writes them."""
    return _sort_blocks(
        text, _CLOCK_RESETS, _CLOCK_RESET, lambda e: (e[1], e[2] == "t"), CLOCKS_MARK
    )


# brian2cuda adds its random-number buffer to the network once per clock, in the order of the
# same set (a function without arguments: which clock's entry comes first changes nothing)
_BUFFER_ADDS = re.compile(r"(?:^ *\w+\.add\(&\w+, _run_random_number_buffer\);\n)+", re.M)
_BUFFER_ADD = re.compile(r"^ *\w+\.add\(&(\w+),.*\n", re.M)


def _sort_buffer_adds(text: str) -> str | None:
    """main.cu with each block of the random-number buffer's additions in clock-name order."""
    return _sort_blocks(text, _BUFFER_ADDS, _BUFFER_ADD, lambda e: (e[1], 0), BUFFERS_MARK)


# brian2cuda's synapse-creation code resizes the synapses' variables in name order, where two
# (the delays of two pathways) share a name in the order of a set of variables: independent
# resizes, sorted by array name
_RESIZES = re.compile(
    r"(?:^ *THRUST_CHECK_ERROR\(\n *dev_dynamic_array_\w+\.resize\(newsize\)\n *\);\n"
    r" *_dynamic_array_\w+\.resize\(newsize\);\n)+",
    re.M,
)
_RESIZE = re.compile(
    r"^ *THRUST_CHECK_ERROR\(\n *dev_dynamic_array_(\w+)\.resize.*?;\n.*?;\n", re.M | re.S
)


def _sort_resizes(text: str) -> str | None:
    """A synapse-creation code object with each block of resizes in array-name order."""
    return _sort_blocks(text, _RESIZES, _RESIZE, lambda e: (e[1], 0), RESIZES_MARK)


def _cuda_targets(directory: Path) -> list[Path]:
    """The generated files of a brian2cuda project that `patch_cuda_project` changes."""
    return [directory / "main.cu", *sorted((directory / "code_objects").glob("*.cu"))]


def _sort_cuda_main(text: str) -> str | None:
    sorted_text = _sort_clock_resets(text) or text
    sorted_text = _sort_buffer_adds(sorted_text) or sorted_text
    return sorted_text if sorted_text != text else None


def _keep_one_order(path: Path, sort, before: dict | None) -> None:
    """Write the file `path` as `sort` orders its text (None: nothing to order), with its
    modification time of `before` (`snapshot`) where that gives the text it had then."""
    if not path.exists():
        return
    text = path.read_text()
    if _patched(text):
        return  # (as Brian2 left it: the text it last wrote)
    new = sort(text)
    if new is not None and new != text:
        _write_keeping_time(path, new, before)


def _write_keeping_time(path: Path, text: str, before: dict | None) -> None:
    """Write `text` to `path`; where `before` (`snapshot`) saw that very text there, give the
    file back its modification time then, so that make does not compile it again."""
    path.write_text(text)
    old = (before or {}).get(path)
    if old is not None and old[0] == text:
        os.utime(path, ns=(old[1], old[1]))


def patch_cuda_project(directory: Path, before: dict | None = None) -> None:
    """Give a generated brian2cuda project one order where brian2cuda writes a Python set's.

    ``main.cu`` resets its clocks and adds its random-number buffer once per clock in the
    order of a set of clocks, and the synapse-creation code resizes two variables of one
    name (two pathways' delays) in the order of a set of variables: both change from one
    process to the next (independent statements). Sorted by name, as the clock resets of
    ``main.cpp`` (module docstring), an unchanged network's files keep their text and, given
    `before` (`snapshot`, as in `patch_project`), their modification times.
    """
    for path in _cuda_targets(directory):
        sort = _sort_cuda_main if path.name == "main.cu" else _sort_resizes
        _keep_one_order(path, sort, before)


#: Names the patches' version (their hash): objects compiled with other headers are rebuilt.
PATCH_STAMP = (
    ".bioclf_cpp_patches_"
    + hashlib.sha1(
        repr(
            (
                _QUEUE_PATCHES,
                _SCHEDULER_PATCHES,
                _PATHWAY_PATCH,
                _RANGE_LOOP,
                _REFRACTORY_NEW,
                _FLAG_LOOP,
                _THRESHOLD_NEW,
                _CALENDAR_NEW,
            )
        ).encode()
    ).hexdigest()[:12]
)


def _targets(directory: Path) -> list[Path]:
    """The generated files that the patches change."""
    files = [directory / "brianlib" / "spikequeue.h", directory / "synapses_classes.h"]
    files += [directory / "main.cpp", directory / "network.cpp"]
    return files + sorted((directory / "code_objects").glob("*.cpp"))


def snapshot(directory: Path) -> dict[Path, tuple[str, int]]:
    """Text and modification time of the patched files, taken before Brian2 regenerates them.

    Brian2 rewrites every generated file whose text differs from the one on disk, so each
    build rewrites the patched files unpatched; `patch_project` then gives back the old
    modification time to a file it patches to the same text, and ``make`` does not
    recompile it.
    """
    paths = [*_targets(directory), *_cuda_targets(directory)]
    texts = {path: path.read_text() for path in paths if path.exists()}
    return {path: (text, path.stat().st_mtime_ns) for path, text in texts.items() if _patched(text)}


def patch_project(directory: Path, before: dict | None = None) -> bool:
    """Apply the patches to a generated one-thread ``cpp_standalone`` project.

    Parameters
    ----------
    directory : Path
        The project, just generated by Brian2.
    before : dict, optional
        `snapshot` of the project taken before it was generated.

    Returns
    -------
    bool
        Whether the project runs with the patches (False: left as Brian2 generated it, but
        for the order of its clock resets, which spares rebuilds and changes nothing else).
    """
    patched = _patch_project(directory, before)
    if not patched:
        _keep_one_order(directory / "main.cpp", _sort_clock_resets, before)
    return patched


def _patch_project(directory: Path, before: dict | None) -> bool:
    queue_h, pathway_h = directory / "brianlib" / "spikequeue.h", directory / "synapses_classes.h"
    if not (queue_h.exists() and pathway_h.exists()):
        return _left_alone(directory)
    texts = {path: path.read_text() for path in _targets(directory) if path.exists()}
    calendars, stale = _plan_calendars({p: t for p, t in texts.items() if not _patched(t)})
    patched = {}
    for path, text in texts.items():
        if _patched(text):
            continue  # already patched
        if path == queue_h:
            text = _replace_all(text, _QUEUE_PATCHES)
            if text is None:
                return _left_alone(directory)
        elif path == pathway_h:
            if _PATHWAY_ONE_THREAD not in text or text.count(_PATHWAY_PATCH[0]) != 1:
                return _left_alone(directory)
            text = text.replace(*_PATHWAY_PATCH)
        elif path.name == "network.cpp":
            text = _replace_all(text, _SCHEDULER_PATCHES)
            if text is None:
                continue  # another scheduler: it works as Brian2 wrote it
        elif path.name == "main.cpp":
            text = _sort_clock_resets(text)
            if text is None:
                continue
        elif ".peek()" in text:
            text = _patch_synaptic_loop(text)
            if text is None:
                return _left_alone(directory)  # a synaptic code object of another form
        elif _REFRACTORY.search(text):
            text = _patch_state_updater(text)
            if text is None:
                return _left_alone(directory)  # a state updater of another form
        elif path in calendars:
            text = calendars[path]
        elif "[N] = _count;" in text:
            text = _patch_threshold(text)
            if text is None:
                continue  # a threshold of another form: it works as Brian2 wrote it
        else:
            continue
        patched[path] = text
    for path, flags in stale.items():  # (after the file's own patch)
        patched[path] = _mark_stale(patched.get(path, texts[path]), flags, path.name == "main.cpp")
    # Brian2's make.deps names objects without their directory, so make does not rebuild
    # them when a header changes: objects compiled before this version of the patches was
    # first applied in this project are deleted once.
    stamp = directory / PATCH_STAMP
    if not stamp.exists():
        _forget_objects(directory)
    for path, text in patched.items():
        _write_keeping_time(path, text, before)
    stamp.touch()
    return True


def _stamps(directory: Path) -> list[Path]:
    return [*directory.glob(".bioclf_spikequeue_*"), *directory.glob(".bioclf_cpp_patches_*")]


def _forget_objects(directory: Path) -> None:
    """Delete the compiled objects and the stamps of any earlier version of the patches."""
    for obj in directory.rglob("*.o"):
        obj.unlink()
    for stamp in _stamps(directory):
        stamp.unlink()


def _left_alone(directory: Path) -> bool:
    """The project stays as Brian2 generated it; returns False.

    Objects compiled while it was patched (e.g. with one thread, before OpenMP was switched on)
    hold the patched queue's layout; make would not recompile them (see above), so they go.
    """
    if _stamps(directory):
        _forget_objects(directory)
    return False
