"""TFRecords of ``tf.train.Example`` in the ImageNet-in-TFRecord layout.

Each record holds ``image/encoded`` (JPEG/PNG/GIF/BMP bytes) and ``image/class/label`` (int64).
Files are found by name: ``train-*`` / ``validation-*`` shards (the layout of the TF Model Garden
and TFDS ImageNet converters), or ``train*.tfrecord*`` / ``val*.tfrecord*``. Class names come
from ``class_names.json`` (a JSON list) or ``labels.txt`` (one name per line) beside the files;
without either, the labels are scanned and the classes are named ``"0"``, ``"1"``, ...

Bad records raise an error naming the file: a label outside ``[0, num_classes)``, bytes that are
not an image, or an image whose channel count cannot be converted.
"""

from __future__ import annotations

import glob
import json
import os

import tensorflow as tf

from keras_residual.training.image_dataset import ImageDataset

TRAIN_PATTERNS = ("train-*", "train*.tfrecord*", "train*.tfrec")
VAL_PATTERNS = ("validation-*", "val-*", "val*.tfrecord*", "validation*.tfrecord*", "val*.tfrec")
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM")
"""Leading bytes of JPEG, PNG, GIF and BMP files (the formats ``tf.io.decode_image`` reads)."""


def _glob_any(folder, patterns):
    files = set()
    for pattern in patterns:
        files.update(p for p in glob.glob(os.path.join(folder, pattern)) if os.path.isfile(p))
    return sorted(files)


def find_tfrecord_files(data: str):
    """Return ``(train_files, val_files)`` if ``data`` names TFRecord shards, else ``None``.

    ``data`` may be a folder holding ``train-*`` and ``validation-*`` shards, or a glob / file
    pattern whose matches are split by the same names.

    Example:
        ```python
        from keras_residual.training.tfrecords import find_tfrecord_files

        print(find_tfrecord_files("no/such/folder"))  # None
        ```
    """
    folder = data if os.path.isdir(data) else None
    if folder is None and any(ch in data for ch in "*?[") or (os.path.isfile(data) and ".tfrec" in data):
        matches = sorted(p for p in glob.glob(data) if os.path.isfile(p))
        if not matches:
            return None
        train = [p for p in matches if os.path.basename(p).startswith("train")]
        val = [p for p in matches if os.path.basename(p).startswith("val")]
        return train, val
    if folder is None:
        return None
    train, val = _glob_any(folder, TRAIN_PATTERNS), _glob_any(folder, VAL_PATTERNS)
    if not train and not val:
        return None
    return train, val


def _read_class_names(folder):
    json_path = os.path.join(folder, "class_names.json")
    if os.path.isfile(json_path):
        with open(json_path) as f:
            names = json.load(f)
        if not isinstance(names, list) or not names:
            raise ValueError(f"{json_path!r} must hold a non-empty JSON list of class names")
        return [str(n) for n in names]
    txt_path = os.path.join(folder, "labels.txt")
    if os.path.isfile(txt_path):
        with open(txt_path) as f:
            names = [line.strip() for line in f if line.strip()]
        if not names:
            raise ValueError(f"{txt_path!r} holds no class names")
        return names
    return None


def _parse_example(record):
    features = tf.io.parse_single_example(
        record,
        {
            "image/encoded": tf.io.FixedLenFeature([], tf.string),
            "image/class/label": tf.io.FixedLenFeature([], tf.int64),
        },
    )
    return features["image/encoded"], tf.cast(features["image/class/label"], tf.int32)


def scan_labels(files):
    """Count records and find the largest label in ``files``; returns ``(count, max_label)``.

    Raises:
        ValueError: A record without ``image/encoded`` or ``image/class/label``, or a negative label
            (the message names the file).
    """
    count, top = 0, -1
    for path in files:
        try:
            for _, label in tf.data.TFRecordDataset(path).map(_parse_example).as_numpy_iterator():
                if label < 0:
                    raise ValueError(f"{path!r}: record {count} has negative label {label}")
                count += 1
                top = max(top, int(label))
        except tf.errors.OpError as err:
            raise ValueError(f"cannot read TFRecord file {path!r}: {err.message}") from None
    return count, top


def _count_records(files):
    total = 0
    for path in files:
        try:
            total += sum(1 for _ in tf.data.TFRecordDataset(path))
        except tf.errors.OpError as err:
            raise ValueError(f"cannot read TFRecord file {path!r}: {err.message}") from None
    return total


def make_decoder(num_classes: int, image_size: int, channels: int):
    """Return ``fn(path, record) -> (image, label)`` that decodes, checks and resizes one record.

    Failed checks raise ``tf.errors.InvalidArgumentError`` whose message names the file and the
    problem (label out of range, not an image); ``train`` turns it into a ``ValueError``.
    """

    def decode(path, record):
        encoded, label = _parse_example(record)
        label_ok = tf.logical_and(label >= 0, label < num_classes)
        label_message = tf.strings.format(
            "label {} is out of range [0, {}) in file {}", (label, num_classes, path), summarize=-1
        )
        check_label = tf.debugging.Assert(label_ok, [label_message])
        is_image = tf.reduce_any([tf.equal(tf.strings.substr(encoded, 0, len(m)), m) for m in IMAGE_MAGIC])
        image_message = tf.strings.format(
            "image/encoded is not a JPEG/PNG/GIF/BMP image in file {}", (path,), summarize=-1
        )
        check_image = tf.debugging.Assert(is_image, [image_message])
        with tf.control_dependencies([check_label, check_image]):
            image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size))
        image = tf.ensure_shape(image, (image_size, image_size, channels))
        return image, label

    return decode


def load_tfrecords(name, files, image_size: int, channels: int = 3):
    """Load ``(train_files, val_files)`` of TFRecords as an ``ImageDataset``.

    Example:
        ```python
        import json, os
        import numpy as np
        import tensorflow as tf
        from keras_residual.training.tfrecords import find_tfrecord_files, load_tfrecords

        os.makedirs("records", exist_ok=True)
        png = tf.io.encode_png(np.zeros((8, 8, 3), "uint8")).numpy()
        for split in ("train", "validation"):
            with tf.io.TFRecordWriter(f"records/{split}-00000-of-00001") as writer:
                for label in (0, 1):
                    feature = {
                        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])),
                        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                    }
                    writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
        json.dump(["zero", "one"], open("records/class_names.json", "w"))
        dataset = load_tfrecords("records", find_tfrecord_files("records"), image_size=16)
        print(dataset.class_names, dataset.num_train)  # ['zero', 'one'] 2
        ```
    """
    train_files, val_files = files
    if not train_files:
        raise ValueError(f"no training TFRecord files (train-* or train*.tfrecord) in {name!r}")
    if not val_files:
        raise ValueError(f"no validation TFRecord files (validation-* or val*.tfrecord) in {name!r}")
    folder = os.path.dirname(train_files[0])
    class_names = _read_class_names(folder)
    if class_names is None:
        num_train, top_train = scan_labels(train_files)
        num_val, top_val = scan_labels(val_files)
        class_names = [str(i) for i in range(max(top_train, top_val) + 1)]
    else:
        num_train, num_val = _count_records(train_files), _count_records(val_files)
    if num_train == 0 or num_val == 0:
        raise ValueError(
            f"TFRecord files in {name!r} hold no records (train: {num_train}, validation: {num_val})"
        )
    decode = make_decoder(len(class_names), image_size, channels)

    def records(paths):
        paths = tf.data.Dataset.from_tensor_slices(paths)
        return paths.interleave(
            lambda p: tf.data.TFRecordDataset(p).map(lambda r: (p, r)),
            cycle_length=min(len(paths), 8),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        ).map(decode, num_parallel_calls=tf.data.AUTOTUNE)

    return ImageDataset(
        name=os.fspath(name),
        kind="tfrecord",
        train=records(train_files),
        val=records(val_files),
        class_names=class_names,
        image_shape=(image_size, image_size, channels),
        num_train=num_train,
        num_val=num_val,
    )
