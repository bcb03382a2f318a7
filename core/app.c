/* placeholder: filled in by the libherd work (issue 18). */
typedef int herd_placeholder_app;
