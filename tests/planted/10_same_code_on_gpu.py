"""Planted wrong answers for lessons/10_same_code_on_gpu.py (format: see
tests/planted/01_backprop_by_hand.py).

``MISTAKES`` are caught wherever the lesson runs, NumPy alone included. ``ON_DEVICE`` are
mistakes that are harmless on NumPy (one memory: moving is a no-op, ``np.asarray`` works)
and wrong on a GPU; they are planted in the run of the lesson's device branch on the strict
CuPy stand-in (``tests/strict_cupy.py``), see ``tests/test_lessons.py``.
"""

_STEP_TIME = (
    "def median_step_time(step, repeats, warmup=2, clock=time.perf_counter):\n"
    "WARMUP"
    "    durations = []\n"
    "    for _ in range(repeats):\n"
    "        start = clock()\n"
    "        step()\n"
    "        durations.append(clock() - start)\n"
    "    return RESULT\n"
)


def _step_time(result="float(np.median(durations))", warmup="    for _ in range(warmup):\n        step()\n"):
    """median_step_time with its warm-up lines and its returned value replaced."""
    return _STEP_TIME.replace("WARMUP", warmup).replace("RESULT", result)


MISTAKES = {
    "move": [
        dict(
            what="to_device casts to the default float dtype",
            array="to_device(host)['labels']",
            hint="must not cast",
            code=(
                "def to_device(arrays):\n"
                "    dtype = backend.default_dtype()\n"
                "    return {name: backend.asarray(v, dtype=dtype) for name, v in arrays.items()}\n"
            ),
        ),
        dict(
            what="to_host rounds to float32",
            array="to_host(to_device(host))['labels']",
            hint="must not cast",
            code=(
                "def to_host(arrays):\n"
                "    return {name: backend.to_numpy(v).astype(np.float32) for name, v in arrays.items()}\n"
            ),
        ),
        dict(
            what="to_device returns a list, not a dict",
            array="to_device(host)",
            code="def to_device(arrays):\n    return [backend.asarray(v) for v in arrays.values()]\n",
        ),
        dict(
            what="to_host returns Python lists",
            array="to_host(to_device(host))['images']",
            code=(
                "def to_host(arrays):\n"
                "    return {name: backend.to_numpy(v).tolist() for name, v in arrays.items()}\n"
            ),
        ),
    ],
    "same_start": [
        dict(
            what="no ng.seed: the generator's current state decides",
            array="initial_parameters(0, device)['0.weight']",
            code=(
                "def initial_parameters(seed, backend_name):\n"
                "    def make():\n"
                "        net = build_net()\n"
                "        return to_host({name: p.data for name, p in net.named_parameters()})\n"
                "    return using(backend_name, make)\n"
            ),
        ),
        dict(
            what="seeded after the network is built",
            array="initial_parameters(0, device)['0.weight']",
            code=(
                "def initial_parameters(seed, backend_name):\n"
                "    def make():\n"
                "        net = build_net()\n"
                "        ng.seed(seed)\n"
                "        return to_host({name: p.data for name, p in net.named_parameters()})\n"
                "    return using(backend_name, make)\n"
            ),
        ),
        dict(
            what="NumPy's legacy np.random.seed instead of ng.seed",
            array="initial_parameters(0, device)['0.weight']",
            code=(
                "def initial_parameters(seed, backend_name):\n"
                "    def make():\n"
                "        np.random.seed(seed)\n"
                "        net = build_net()\n"
                "        return to_host({name: p.data for name, p in net.named_parameters()})\n"
                "    return using(backend_name, make)\n"
            ),
        ),
        dict(
            what="the seed argument ignored (always seed 0)",
            array="initial_parameters(1, device)",
            code=(
                "def initial_parameters(seed, backend_name):\n"
                "    def make():\n"
                "        ng.seed(0)\n"
                "        net = build_net()\n"
                "        return to_host({name: p.data for name, p in net.named_parameters()})\n"
                "    return using(backend_name, make)\n"
            ),
        ),
    ],
    "step_time": [
        dict(
            what="the mean instead of the median",
            array="median_step_time(clock.step, repeats=5, warmup=2, clock=clock)",
            hint="the mean of the timed steps",
            code=_step_time("float(np.mean(durations))"),
        ),
        dict(
            what="the warm-up steps timed as well",
            array="median_step_time(clock.step, repeats=5, warmup=2, clock=clock)",
            hint="warm-up steps were timed too",
            code=(
                "def median_step_time(step, repeats, warmup=2, clock=time.perf_counter):\n"
                "    durations = []\n"
                "    for _ in range(warmup + repeats):\n"
                "        start = clock()\n"
                "        step()\n"
                "        durations.append(clock() - start)\n"
                "    return float(np.median(durations))\n"
            ),
        ),
        dict(
            what="no warm-up at all",
            array="median_step_time(clock.step, repeats=5, warmup=2, clock=clock)",
            code=_step_time(warmup=""),
        ),
        dict(
            what="the fastest step",
            array="median_step_time(clock.step, repeats=5, warmup=2, clock=clock)",
            hint="the minimum",
            code=_step_time("min(durations)"),
        ),
        dict(
            what="one extra untimed step per repeat",
            array="calls of step()",
            code=(
                "def median_step_time(step, repeats, warmup=2, clock=time.perf_counter):\n"
                "    durations = []\n"
                "    step(); step()\n"
                "    for _ in range(repeats):\n"
                "        start = clock()\n"
                "        step()\n"
                "        durations.append(clock() - start)\n"
                "        if len(durations) < repeats:\n"
                "            step()\n"
                "    return float(np.median(durations))\n"
            ),
        ),
        dict(  # passes the visible check (an odd number of timed steps); a hidden test catches it
            what="the middle of the sorted durations, durations[repeats // 2]",
            array="median_step_time(..., repeats=4, warmup=1): an even number of timed steps",
            hint="the upper of the two middle steps",
            code=_step_time("float(sorted(durations)[repeats // 2])"),
        ),
        dict(  # passes the visible check (warmup=2 there); a hidden test catches it
            what="two warm-up steps hard-coded, the warmup argument ignored",
            array="calls of step()",
            code=_step_time(warmup="    step()\n    step()\n"),
        ),
    ],
    "agreement": [
        dict(
            what="entry by entry relative error",
            array="largest_relative_difference(nudged, reference_values)",
            hint="entry by entry",
            code=(
                "def largest_relative_difference(yours, reference):\n"
                "    yours = backend.to_numpy(yours).astype(np.float64)\n"
                "    reference = backend.to_numpy(reference).astype(np.float64)\n"
                "    return float(np.max(np.abs(yours - reference) / np.abs(reference)))\n"
            ),
        ),
        dict(
            what="no abs on the difference",
            array="largest_relative_difference(nudged, reference_values)",
            hint="needs the abs",
            code=(
                "def largest_relative_difference(yours, reference):\n"
                "    yours = backend.to_numpy(yours).astype(np.float64)\n"
                "    reference = backend.to_numpy(reference).astype(np.float64)\n"
                "    return float(np.max(yours - reference) / np.max(np.abs(reference)))\n"
            ),
        ),
        dict(
            what="no abs on the reference's largest entry",
            array="largest_relative_difference(nudged, reference_values)",
            hint="without abs",
            code=(
                "def largest_relative_difference(yours, reference):\n"
                "    yours = backend.to_numpy(yours).astype(np.float64)\n"
                "    reference = backend.to_numpy(reference).astype(np.float64)\n"
                "    return float(np.max(np.abs(yours - reference)) / np.max(reference))\n"
            ),
        ),
        dict(
            what="computed in float32",
            array="largest_relative_difference(nudged, reference_values)",
            hint="float32",
            code=(
                "def largest_relative_difference(yours, reference):\n"
                "    yours = backend.to_numpy(yours).astype(np.float32)\n"
                "    reference = backend.to_numpy(reference).astype(np.float32)\n"
                "    return float(np.max(np.abs(yours - reference)) / np.max(np.abs(reference)))\n"
            ),
        ),
        dict(
            what="the mean difference",
            array="largest_relative_difference(nudged, reference_values)",
            hint="mean difference",
            code=(
                "def largest_relative_difference(yours, reference):\n"
                "    yours = backend.to_numpy(yours).astype(np.float64)\n"
                "    reference = backend.to_numpy(reference).astype(np.float64)\n"
                "    return float(np.mean(np.abs(yours - reference)) / np.max(np.abs(reference)))\n"
            ),
        ),
        dict(
            what="a 1-entry array returned instead of a float",
            array="largest_relative_difference(nudged, reference_values)",
            hint=None,
            code=(
                "def largest_relative_difference(yours, reference):\n"
                "    yours = backend.to_numpy(yours).astype(np.float64)\n"
                "    reference = backend.to_numpy(reference).astype(np.float64)\n"
                "    return np.max(np.abs(yours - reference), keepdims=True) / np.max(np.abs(reference))\n"
            ),
        ),
    ],
    "float64_copy": [
        dict(
            what="astype without a copy (the network itself, cast in place)",
            array="float64_copy(probe)",
            code="def float64_copy(net):\n    return net.astype(np.float64)\n",
        ),
        dict(
            what="a copy left in float32",
            array="float64_copy(probe)['0.weight']",
            hint="must be cast",
            code="def float64_copy(net):\n    return copy.deepcopy(net)\n",
        ),
        dict(
            what="a shallow copy: the layers are shared and cast with it",
            array="probe after float64_copy(probe)['0.weight']",
            hint="copy all of it",
            code="def float64_copy(net):\n    return copy.copy(net).astype(np.float64)\n",
        ),
        dict(
            what="a fresh network instead of a copy",
            array="float64_copy(probe)['0.weight']",
            code="def float64_copy(net):\n    return build_net().to(backend.name()).astype(np.float64)\n",
        ),
        dict(  # passes the visible check (its probe is a build_net()); a hidden test catches it
            what="a fresh build_net() with the network's parameters loaded into it",
            array="float64_copy(a tanh network)",
            hint="copy the network handed in",
            code=(
                "def float64_copy(net):\n"
                "    fresh = build_net().to(backend.name()).astype(np.float64)\n"
                "    fresh.load_state_dict(net.state_dict())\n"
                "    return fresh\n"
            ),
        ),
    ],
}

ON_DEVICE = {
    "move": [
        dict(
            what="np.asarray: the arrays stay on the host",
            array="to_device(host)['images']",
            code="def to_device(arrays):\n    return {name: np.asarray(v) for name, v in arrays.items()}\n",
        ),
        dict(
            what="to_host hands the device arrays back unchanged",
            array="to_host(to_device(host))['images']",
            code="def to_host(arrays):\n    return dict(arrays)\n",
        ),
        dict(
            what="to_host with np.asarray (an implicit copy back)",
            array="to_host(to_device(host))",
            hint="CuPy refuses implicit moves",
            code="def to_host(arrays):\n    return {name: np.asarray(v) for name, v in arrays.items()}\n",
        ),
    ],
    "agreement": [
        dict(
            what="computed with the device's module on host arrays",
            array="largest_relative_difference(nudged, reference_values)",
            hint="CuPy refuses implicit moves",
            code=(
                "def largest_relative_difference(yours, reference):\n"
                "    xp = backend.xp\n"
                "    return float(xp.max(xp.abs(yours - reference)) / xp.max(xp.abs(reference)))\n"
            ),
        ),
        dict(
            what="np.asarray instead of backend.to_numpy",
            array="largest_relative_difference(nudged on the device, reference_values)",
            hint="CuPy refuses implicit moves",
            code=(
                "def largest_relative_difference(yours, reference):\n"
                "    yours, reference = np.asarray(yours, np.float64), np.asarray(reference, np.float64)\n"
                "    return float(np.max(np.abs(yours - reference)) / np.max(np.abs(reference)))\n"
            ),
        ),
        dict(  # passes the visible check (there max |yours| = max |reference| = 4); a hidden test catches it
            what="divided by max |yours| instead of max |reference|",
            array="largest_relative_difference(yours larger than the reference, reference)",
            hint="max |yours| instead of max |reference|",
            code=(
                "def largest_relative_difference(yours, reference):\n"
                "    yours = backend.to_numpy(yours).astype(np.float64)\n"
                "    reference = backend.to_numpy(reference).astype(np.float64)\n"
                "    return float(np.max(np.abs(yours - reference)) / np.max(np.abs(yours)))\n"
            ),
        ),
    ],
    "float64_copy": [
        dict(
            what="the copy brought to the host",
            array="float64_copy(probe)['0.weight']",
            code="def float64_copy(net):\n    return copy.deepcopy(net).astype(np.float64).to('numpy')\n",
        ),
    ],
}
