import CodeMirror from '@uiw/react-codemirror';
import { sql } from '@codemirror/lang-sql';

const extensions = [sql()];

export default function CodeEditor({ value, onChange, label, singleLine }: { value: string; onChange(v: string): void; label: string; singleLine?: boolean }) {
  return (
    <CodeMirror
      value={value}
      onChange={onChange}
      extensions={extensions}
      height={singleLine ? '40px' : '140px'}
      basicSetup={{ lineNumbers: !singleLine, foldGutter: false }}
      aria-label={label}
    />
  );
}
