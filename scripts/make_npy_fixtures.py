"""Small .npy files written by NumPy, for Backprop's NPY reader test.

Writes Tests/BackpropTests/Fixtures/numpy_*.npy. The values are formulas the Swift test re-creates.
Run: /work/venv/bin/python scripts/make_npy_fixtures.py
"""
import os
import numpy as np

FIX = os.path.join(os.path.dirname(__file__), "..", "Tests", "BackpropTests", "Fixtures")
np.save(os.path.join(FIX, "numpy_f4_2x3.npy"), (np.arange(6, dtype=np.float32) / 4 - 0.5).reshape(2, 3))
np.save(os.path.join(FIX, "numpy_f8_fortran_3x4.npy"), np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4) * 1.5))
np.save(os.path.join(FIX, "numpy_i8_5.npy"), np.array([-2, 0, 7, 2**40, -(2**33)], dtype=np.int64))
np.save(os.path.join(FIX, "numpy_f8_scalar.npy"), np.float64(2.5))
print("wrote numpy fixtures to", FIX)
