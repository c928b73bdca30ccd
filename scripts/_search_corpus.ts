/**
 * A synthetic corpus for the search benchmarks: words from a 50,000-word vocabulary with Zipf
 * frequencies (s = 1; one word in seven carries an accent), titles of 6 words, bodies of 40..120
 * words, two of 200 tags, a fixed set of authors; and two-term queries made of two words of one
 * post, each among the 100th..5,000th most frequent words (so results exist and lists are long).
 * Deterministic for a seed.
 */

/** One post of the corpus. */
export interface CorpusPost {
  /** Its index. */
  index: number;
  /** The author's index. */
  author: number;
  /** Creation time offset before the start, in ms. */
  ageMs: number;
  /** Title words. */
  title: string[];
  /** Body words. */
  body: string[];
  /** Tags. */
  tags: string[];
}

/** A corpus and its queries. */
export interface Corpus {
  /** The posts. */
  posts: CorpusPost[];
  /** Two-term queries. */
  queries: string[];
  /** Each word's rank by frequency (0 the most frequent). */
  rank: Map<string, number>;
}

/**
 * Makes a corpus.
 *
 * @param options Sizes and seed.
 * @returns The corpus.
 */
export function makeCorpus(
  options: { posts: number; queries: number; authors: number; seed: number },
): Corpus {
  let state = options.seed >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
  const vocabularySize = 50_000;
  const syllables = "ka lo mi ne ru sa ti vo be da fu go hi ju pe zo".split(" ");
  const vocabulary = Array.from({ length: vocabularySize }, (_, i) => {
    let word = "";
    let n = i + 1;
    while (n > 0) {
      word += syllables[n % syllables.length];
      n = Math.floor(n / syllables.length);
    }
    return word + (i % 7 === 0 ? "é" : "");
  });
  const cumulative = new Float64Array(vocabularySize);
  let total = 0;
  for (let i = 0; i < vocabularySize; i++) cumulative[i] = total += 1 / (i + 1);
  const zipfIndex = () => {
    const target = random() * total;
    let low = 0;
    let high = vocabularySize - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (cumulative[middle] < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
  const sentence = (count: number) => Array.from({ length: count }, () => vocabulary[zipfIndex()]);
  const posts: CorpusPost[] = [];
  for (let index = 0; index < options.posts; index++) {
    const title = sentence(6);
    const body = sentence(40 + Math.floor(random() * 81));
    const tags = [...new Set([Math.floor(random() * 200), Math.floor(random() * 200)])]
      .map((tag) => `tag${tag}`);
    posts.push({
      index,
      author: index % options.authors,
      ageMs: Math.floor(random() * 30 * 86400_000),
      title,
      body,
      tags,
    });
  }
  const rank = new Map(vocabulary.map((word, i) => [word, i]));
  const queries: string[] = [];
  for (
    let attempt = 0;
    queries.length < options.queries && attempt < options.queries * 100;
    attempt++
  ) {
    const post = posts[Math.floor(random() * posts.length)];
    const words = [...new Set([...post.title, ...post.body])]
      .filter((word) => rank.get(word)! >= 100 && rank.get(word)! < 5000);
    if (words.length < 2) continue;
    const a = words[Math.floor(random() * words.length)];
    const others = words.filter((word) => word !== a);
    queries.push(`${a} ${others[Math.floor(random() * others.length)]}`);
  }
  return { posts, queries, rank };
}
