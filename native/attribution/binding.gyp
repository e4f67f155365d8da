{
  "targets": [
    {
      "target_name": "looptrace_v8",
      "sources": [
        "v8_attribution.cc"
      ],
      "cflags_cc": [
        "-fvisibility=hidden",
        "-fno-exceptions",
        "-fno-rtti",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Wno-cast-function-type"
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
