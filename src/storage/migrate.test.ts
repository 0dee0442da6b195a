import { describe, expect, it } from 'vitest';
import { splitStatements } from './migrate.js';

describe('splitStatements', () => {
  it('splits on semicolons at line ends, keeps a DO block whole and drops comment-only parts', () => {
    const sql = [
      '-- a comment',
      'CREATE TABLE a (x int);',
      'DO $$',
      'DECLARE g int := 1;',
      'BEGIN',
      '  INSERT INTO a VALUES (g);',
      'END',
      '$$;',
      '',
      '-- trailing comment only',
    ].join('\n');
    expect(splitStatements(sql)).toEqual([
      '-- a comment\nCREATE TABLE a (x int)',
      'DO $$\nDECLARE g int := 1;\nBEGIN\n  INSERT INTO a VALUES (g);\nEND\n$$',
    ]);
  });
});
