/* Symbol visibility: only routemat_ functions leave the shared library. */
#ifndef ROUTEMAT_EXPORT_H
#define ROUTEMAT_EXPORT_H

#if defined(ROUTEMAT_STATIC)
#define ROUTEMAT_API
#elif defined(_WIN32)
#if defined(ROUTEMAT_BUILDING)
#define ROUTEMAT_API __declspec(dllexport)
#else
#define ROUTEMAT_API __declspec(dllimport)
#endif
#else
#define ROUTEMAT_API __attribute__((visibility("default")))
#endif

#endif /* ROUTEMAT_EXPORT_H */
