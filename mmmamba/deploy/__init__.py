"""Deployment: ONNX export of A2Mamba segmentors, detector backbones and
necks (``tools/deploy/export_onnx.py``). Importing it registers nothing;
onnx and onnxruntime (``requirements/deploy.txt``) are imported when an
export is checked."""
from .adaptive_pool import adaptive_pool_decomposition, adaptive_pool_matrix
from .onnx_export import (DEFAULT_OPSET, TOLERANCE, ExportMismatchError,
                          FeatureMaps, SegLogits, check_operators,
                          check_opset, check_shape, export_module,
                          export_onnx, ort_session, relative_error,
                          verify_onnx, weight_bytes)

__all__ = [
    'adaptive_pool_decomposition', 'adaptive_pool_matrix', 'DEFAULT_OPSET',
    'TOLERANCE', 'ExportMismatchError', 'FeatureMaps', 'SegLogits',
    'check_operators', 'check_opset', 'check_shape', 'export_module',
    'export_onnx', 'ort_session', 'relative_error', 'verify_onnx',
    'weight_bytes'
]
