{
  "targets": [
    {
      "target_name": "looptrace_test",
      "sources": [
        "../addon.cc",
        "../crc32c.cc",
        "../definitions.cc",
        "../js_batch.cc",
        "../loop_hooks.cc",
        "../process_barrier.cc",
        "../recorder.cc",
        "../sinks.cc",
        "../thread_metrics.cc",
        "../watchdog.cc",
        "../test_support.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "LOOPTRACE_TEST_SUPPORT"
      ],
      "cflags_cc!": [
        "-std=gnu++17"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-fvisibility=hidden",
        "-fno-exceptions",
        "-fno-rtti",
        "-Wall",
        "-Wextra"
      ],
      "configurations": {
        "Release": {
          "cflags!": [
            "-O3"
          ],
          "cflags": [
            "-O2"
          ],
          "xcode_settings": {
            "GCC_OPTIMIZATION_LEVEL": "2"
          }
        }
      },
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
        "GCC_ENABLE_CPP_RTTI": "NO",
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "OTHER_CPLUSPLUSFLAGS": [
          "-Wall",
          "-Wextra"
        ]
      }
    }
  ]
}
