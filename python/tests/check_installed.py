"""Run by check_install.cmake: the installed package loads the installed library.

Usage: check_installed.py PREFIX PACKAGE_DIR LIBRARY_DIR (the last two relative to PREFIX).
"""

import os
import sys


def main():
    prefix, package_dir, library_dir = sys.argv[1:4]
    prefix = os.path.realpath(prefix)
    import routemat

    package = os.path.realpath(os.path.dirname(routemat.__file__))
    expected_package = os.path.join(prefix, package_dir, "routemat")
    print("package:", package)
    if package != os.path.realpath(expected_package):
        print(f"FAIL: imported {package}, not the installed {expected_package}")
        return 1
    library = os.path.realpath(routemat.library_path())
    print("library:", routemat.library_path(), "->", library)
    if os.path.dirname(library) != os.path.realpath(os.path.join(prefix, library_dir)):
        print(f"FAIL: loaded {library}, not the installed one under {prefix}/{library_dir}")
        return 1
    try:
        import numpy as np
    except ImportError:
        print("numpy is not installed: only the import and the library path were checked")
        return 0
    m = routemat.Map(np.array([0, 1, 2, 2, 2]), 3)
    w = routemat.gather(m, np.array([1.0, 2.0, 3.0]))
    print("w = G u:", w)
    if w.tolist() != [1.0, 2.0, 3.0, 3.0, 3.0]:
        print("FAIL: wrong gather")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
