// The SDK versions are pinned by package-lock.json; its notice about future releases needing Node 22 is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
