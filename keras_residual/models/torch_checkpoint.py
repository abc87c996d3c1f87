"""torchvision / timm ResNet checkpoints: name and layout mapping, loading, and the inverse export.

Names follow torchvision's ``ResNet`` (``conv1``, ``bn1``, ``layer{s}.{i}.conv1`` ...,
``downsample.0``/``.1``, ``fc``) and timm's extensions (deep stem ``conv1.0/.1/.3/.4/.6``, ResNet-D
shortcut ``downsample.1``/``.2`` after the average pool, squeeze-excitation ``se.fc1``/``se.fc2``).
Layouts: conv ``OIHW`` -> Keras ``HWIO``; linear ``(out, in)`` -> ``(in, out)``; 1x1 SE convs
``(out, in, 1, 1)`` -> ``(in, out)``; BatchNorm ``weight/bias/running_mean/running_var`` ->
``gamma/beta/moving_mean/moving_variance`` (``num_batches_tracked`` is ignored).
"""

from __future__ import annotations

import pickle

import numpy as np

_BN_VARIABLES = (
    ("weight", "gamma"),
    ("bias", "beta"),
    ("running_mean", "moving_mean"),
    ("running_var", "moving_variance"),
)
_IGNORED_SUFFIXES = ("num_batches_tracked",)


def _to_keras(kind, array):
    if kind == "conv":
        return np.transpose(array, (2, 3, 1, 0))
    if kind == "dense":
        return np.transpose(array)
    if kind == "se":
        return np.transpose(array.reshape(array.shape[0], array.shape[1]))
    return array


def _to_torch(kind, array):
    if kind == "conv":
        return np.transpose(array, (3, 2, 0, 1))
    if kind == "dense":
        return np.transpose(array)
    if kind == "se":
        return np.transpose(array).reshape(array.shape[1], array.shape[0], 1, 1)
    return array


def _torch_shape(kind, keras_shape):
    return tuple(_to_torch(kind, np.empty(keras_shape, dtype=np.uint8)).shape)


def _conv_entries(prefix, layer):
    entries = [(f"{prefix}.weight", layer.kernel, "conv")]
    if layer.use_bias:
        entries.append((f"{prefix}.bias", layer.bias, "vector"))
    return entries


def _bn_entries(prefix, layer):
    return [
        (f"{prefix}.{torch_name}", getattr(layer, keras_name), "vector")
        for torch_name, keras_name in _BN_VARIABLES
    ]


def _dense_entries(prefix, layer, kind):
    return [(f"{prefix}.weight", layer.kernel, kind), (f"{prefix}.bias", layer.bias, "vector")]


def weight_map(model):
    """``[(torch_name, keras_variable, kind), ...]`` for every weight of ``model`` in checkpoint naming.

    Raises:
        ValueError: ``model`` is a pre-activation ResNet (torchvision/timm ``resnet`` checkpoints
            are post-activation; import v2 weights with ``ResNet.from_keras_applications``).
    """
    config = model.resnet_config
    if config["preact"]:
        raise ValueError(
            "torchvision/timm checkpoints are supported for post-activation ResNets (preact=False); "
            "this model has preact=True. Import pre-activation weights with ResNet.from_keras_applications."
        )
    entries = []
    if config["stem"] == "deep":
        for index, name in ((0, "stem_conv1"), (3, "stem_conv2"), (6, "stem_conv3")):
            entries += _conv_entries(f"conv1.{index}", model.get_layer(name))
        for index, name in ((1, "stem_bn1"), (4, "stem_bn2")):
            entries += _bn_entries(f"conv1.{index}", model.get_layer(name))
    else:
        entries += _conv_entries("conv1", model.get_layer("stem_conv"))
    entries += _bn_entries("bn1", model.get_layer("stem_bn"))

    for spec in model.block_specs:
        block = model.get_layer(spec.name)
        prefix = f"layer{spec.stage}.{spec.index - 1}"
        for conv_name, bn_name in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
            conv = getattr(block, conv_name)
            if conv is not None:
                entries += _conv_entries(f"{prefix}.{conv_name}", conv)
                entries += _bn_entries(f"{prefix}.{bn_name}", getattr(block, bn_name))
        if block.se is not None:
            entries += _dense_entries(f"{prefix}.se.fc1", block.se.reduce, "se")
            entries += _dense_entries(f"{prefix}.se.fc2", block.se.expand, "se")
        if block.shortcut_conv is not None:
            first = 1 if block.shortcut == "avg_down" else 0
            entries += _conv_entries(f"{prefix}.downsample.{first}", block.shortcut_conv)
            entries += _bn_entries(f"{prefix}.downsample.{first + 1}", block.shortcut_bn)
    if config["include_top"]:
        entries += _dense_entries("fc", model.get_layer("predictions"), "dense")
    return entries


def _read_checkpoint(path):
    lower = str(path).lower()
    if lower.endswith(".safetensors"):
        try:
            from safetensors.numpy import load_file  # optional extra [torch]
        except ImportError as error:
            raise ImportError(
                "Reading .safetensors needs the safetensors package: pip install 'keras-residual[torch]'."
            ) from error
        try:
            return dict(load_file(str(path)))
        except Exception as error:  # safetensors raises its own SafetensorError for a bad header
            raise ValueError(
                f"`weights` file {str(path)!r} is not a valid .safetensors file: {error}"
            ) from error
    try:
        import torch  # optional extra [torch]: only .pth/.pt/.bin files need it
    except ImportError as error:
        raise ImportError(
            "Reading a torch checkpoint (.pth/.pt/.bin) needs torch: pip install 'keras-residual[torch]', "
            "or convert it to .safetensors."
        ) from error
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise ValueError(
            f"`weights` file {str(path)!r} is not a torch checkpoint that torch.load(weights_only=True) "
            f"can read: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
        ) from error
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise ValueError(f"{path!r} does not hold a state dict (found {type(state).__name__}).")
    return {
        name: value.detach().cpu().float().numpy()
        for name, value in state.items()
        if hasattr(value, "detach")
    }


def _strip_prefix(state):
    if state and all(name.startswith("module.") for name in state):
        return {name[len("module.") :]: value for name, value in state.items()}
    return state


def assign_state_dict(model, state, source="checkpoint"):
    """Assign a ``{torch_name: array}`` state dict to ``model`` (all checks first, then all writes).

    Raises:
        ValueError: the first tensor the model needs that is missing, has another shape, or the
            first checkpoint tensor the model has no place for (``fc.*`` is allowed extra when
            ``include_top=False``).
    """
    state = _strip_prefix(dict(state))
    entries = weight_map(model)
    expected = {name for name, _, _ in entries}
    updates = []
    for name, variable, kind in entries:
        want = _torch_shape(kind, tuple(variable.shape))
        if name not in state:
            raise ValueError(
                f"{source}: tensor {name!r} is missing; the model expects shape {want} for "
                f"{variable.path!r}. Does the preset match the checkpoint?"
            )
        array = np.asarray(state[name])
        if tuple(array.shape) != want:
            raise ValueError(
                f"{source}: tensor {name!r} has shape {tuple(array.shape)} but the model expects {want} "
                f"for {variable.path!r} (torch layout). Does the preset match the checkpoint?"
            )
        updates.append((variable, _to_keras(kind, array)))
    for name in state:
        if name in expected or name.endswith(_IGNORED_SUFFIXES):
            continue
        if name.startswith("fc.") and not model.resnet_config["include_top"]:
            continue
        raise ValueError(
            f"{source}: tensor {name!r} (shape {tuple(np.shape(state[name]))}) has no place in the model. "
            "Does the preset match the checkpoint (depth, stem, shortcut)?"
        )
    for variable, value in updates:
        variable.assign(value.astype(variable.dtype))


def load_torch_checkpoint(model, path):
    """Load a torchvision or timm ResNet checkpoint into ``model`` in place.

    ``.safetensors`` files are read with the safetensors package (no torch needed); ``.pth``,
    ``.pt`` and ``.bin`` files with ``torch.load(weights_only=True)``. A ``state_dict``/``model``
    wrapper and a ``module.`` prefix (DataParallel) are unwrapped. Nothing is written unless every
    tensor fits.

    Args:
        model: a post-activation :class:`~keras_residual.models.ResNet` whose architecture matches
            the checkpoint (e.g. ``ResNet.from_preset("resnet50")`` for torchvision's resnet50).
        path: checkpoint path.

    Raises:
        ValueError: the checkpoint does not fit; the message names the first missing, mismatched
            or unexpected tensor with both shapes.
        ImportError: torch / safetensors is not installed.

    Example:

    >>> import tempfile, os
    >>> from safetensors.numpy import save_file
    >>> from keras_residual.models import ResNet
    >>> model = ResNet.from_preset("resnet20_cifar")
    >>> path = os.path.join(tempfile.mkdtemp(), "resnet20.safetensors")
    >>> save_file(torch_state_dict(model), path)
    >>> load_torch_checkpoint(ResNet.from_preset("resnet20_cifar"), path)
    """
    assign_state_dict(model, _read_checkpoint(path), source=str(path))


def torch_state_dict(model):
    """The model's weights as a torchvision-named ``{name: numpy array}`` dict (torch layouts).

    The inverse of :func:`load_torch_checkpoint`: ``torch_module.load_state_dict`` accepts it after
    ``torch.from_numpy``; BatchNorm ``num_batches_tracked`` counters are included (as 0).

    Example:

    >>> from keras_residual.models import ResNet
    >>> state = torch_state_dict(ResNet.from_preset("resnet18"))
    >>> state["conv1.weight"].shape, state["fc.weight"].shape
    ((64, 3, 7, 7), (1000, 512))
    """
    state = {}
    for name, variable, kind in weight_map(model):
        state[name] = np.ascontiguousarray(_to_torch(kind, np.asarray(variable.numpy(), dtype=np.float32)))
        if name.endswith(".running_var"):
            state[name[: -len("running_var")] + "num_batches_tracked"] = np.zeros((), dtype=np.int64)
    return state
