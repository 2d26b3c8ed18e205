// eslint: typescript-eslint's recommended rules on the host code and its
// tests, nothing stylistic (layout is left to the code as it is written).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // Generated or AssemblyScript (its own compiler checks it), and what .gitignore leaves out.
  {
    ignores: [
      'dist/',
      '**/build/',
      'node_modules/',
      'vendor/',
      'bundles/',
      'host/model/wasm-loops/',
      'probes/',
      'examples/',
      'test/guests/',
      'scratch/',
      '.test-probes/',
      'kernel-matrix-results/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      // `_name` marks an argument kept for an interface's shape.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js', '**/*.cjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        $: 'readonly',
        argv: 'readonly',
        fs: 'readonly',
        path: 'readonly',
        os: 'readonly',
        chalk: 'readonly',
        echo: 'readonly',
        within: 'readonly',
        cd: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        TextDecoder: 'readonly',
        TextEncoder: 'readonly',
        performance: 'readonly',
        WebAssembly: 'readonly',
        globalThis: 'readonly',
      },
    },
  },
);
