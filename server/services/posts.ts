// Posts: create, edit, delete, read and search, with visibility rules and no per-row queries.
import { and, desc, eq, inArray, sql, type Placeholder, type SQL } from 'drizzle-orm';
import type { SelectedFields } from 'drizzle-orm/pg-core';
import type { Database, Tables } from '../../db/index.ts';
import type { Deps } from '../deps.ts';
import { AppError, notFound } from '../errors.ts';
import type { Post, PostSummary, Role } from '../schemas.ts';
import { userCacheKeys } from './cache-keys.ts';
import { after, cappedCountColumn, cappedCountQuery, decodeCursor, fixedValue, pageIds, pagePlaceholders, pageValues, searchNewestFirst, toCountedPage, type Page, type PageRequest } from './pages.ts';

/** Who is asking: visibility of unpublished posts depends on it. */
export type Viewer = { id: string; role: Role } | null;

const summaryColumns = ({ posts, users }: Pick<Tables, 'posts' | 'users'>) => ({
  id: posts.id,
  title: posts.title,
  published: posts.published,
  createdAt: posts.createdAt,
  updatedAt: posts.updatedAt,
  author: { id: users.id, username: users.username },
});

const postColumns = (tables: Pick<Tables, 'posts' | 'users'>) => ({ ...summaryColumns(tables), body: tables.posts.body });

/** Unpublished posts are seen by their author and admins only; to anyone else they do not exist. */
function visibleTo(viewer: Viewer, { posts }: Pick<Tables, 'posts'>): SQL | undefined {
  if (viewer?.role === 'admin') return undefined;
  return viewer ? publishedOrBy(posts, viewer.id) : eq(posts.published, true);
}

/**
 * `published OR author_id = viewer`, written as a CASE so that no planner reads it through both indexes: as an OR,
 * SQLite without statistics (a new database, before its first `PRAGMA optimize`) merged every published post and
 * every post of the reader from the two indexes and sorted them all for each page, so a signed-in reader's list
 * grew with the table (0.7 ms at 1,000 posts, 23 ms at 40,000). As a CASE it is a filter on the walk down
 * (created_at, id), which stops at the page.
 */
function publishedOrBy(posts: Tables['posts'], viewerId: string | Placeholder): SQL {
  return sql`(case when ${posts.published} then true else ${posts.authorId} = ${viewerId} end)`;
}

const onlyAuthor = () => new AppError('FORBIDDEN', 'only the author can edit a post');

export async function createPost(
  deps: Deps,
  author: { id: string; username: string },
  input: { title: string; body: string; published?: boolean | undefined },
): Promise<Post> {
  const { posts } = deps.db.tables;
  const now = deps.clock.now();
  const [row] = await deps.db.orm
    .insert(posts)
    .values({ authorId: author.id, title: input.title, body: input.body, published: input.published ?? false, createdAt: now, updatedAt: now })
    .returning({ id: posts.id, title: posts.title, body: posts.body, published: posts.published, createdAt: posts.createdAt, updatedAt: posts.updatedAt });
  await deps.cache.invalidate(userCacheKeys(author.id).withPosts);
  return { ...row, author: { id: author.id, username: author.username } };
}

export async function getPost(deps: Deps, viewer: Viewer, id: string): Promise<Post> {
  const { posts, users } = deps.db.tables;
  const [row] = await deps.db.orm
    .select(postColumns(deps.db.tables))
    .from(posts)
    .innerJoin(users, eq(users.id, posts.authorId))
    .where(and(eq(posts.id, id), visibleTo(viewer, deps.db.tables)));
  if (!row) throw notFound('post');
  return row;
}

/** Why a write touched no row: the post is invisible to the viewer (NOT_FOUND) or not theirs (FORBIDDEN). */
async function explainMiss(deps: Deps, viewer: NonNullable<Viewer>, id: string): Promise<AppError> {
  const { posts } = deps.db.tables;
  const [row] = await deps.db.orm.select({ id: posts.id }).from(posts).where(and(eq(posts.id, id), visibleTo(viewer, deps.db.tables)));
  return row ? onlyAuthor() : notFound('post');
}

export async function updatePost(
  deps: Deps,
  viewer: NonNullable<Viewer> & { username: string },
  id: string,
  input: { title?: string | undefined; body?: string | undefined; published?: boolean | undefined },
): Promise<Post> {
  const { posts } = deps.db.tables;
  const [row] = await deps.db.orm
    .update(posts)
    .set({ ...input, updatedAt: deps.clock.now() })
    .where(and(eq(posts.id, id), eq(posts.authorId, viewer.id)))
    .returning({ id: posts.id, title: posts.title, body: posts.body, published: posts.published, createdAt: posts.createdAt, updatedAt: posts.updatedAt });
  if (!row) throw await explainMiss(deps, viewer, id);
  await deps.cache.invalidate(userCacheKeys(viewer.id).withPosts);
  return { ...row, author: { id: viewer.id, username: viewer.username } };
}

/** The author or an admin may delete. */
export async function deletePost(deps: Deps, viewer: NonNullable<Viewer>, id: string): Promise<void> {
  const { posts } = deps.db.tables;
  const mayDelete = viewer.role === 'admin' ? eq(posts.id, id) : and(eq(posts.id, id), eq(posts.authorId, viewer.id));
  const [row] = await deps.db.orm.delete(posts).where(mayDelete).returning({ authorId: posts.authorId });
  if (!row) throw await explainMiss(deps, viewer, id);
  await deps.cache.invalidate(userCacheKeys(row.authorId).withPosts);
}

export type PostFilter = PageRequest & { q?: string | undefined; authorId?: string | undefined; published?: boolean | undefined };

/**
 * Newest first, each with its author, without bodies. Without `q`: the page with its capped total, in one statement.
 * With `q` (title or body contains it, case-insensitively and literally): the newest chunk of posts is tested
 * first, where common text fills the page; else text found in at most TOTAL_CAP posts is read from the trigram
 * index and sorted; commoner text, and text too short for trigrams (1–2 characters), is found by walking on
 * (searchNewestFirst).
 */
export async function listPosts(deps: Deps, viewer: Viewer, filter: PostFilter): Promise<Page<PostSummary>> {
  const { db } = deps;
  const { posts, users } = db.tables;
  if (!filter.q) {
    // Without `q`: one of a few shapes of statement, each built once per database (db.prepared), since building
    // them costs more than SQLite takes to run them. The values go in as placeholders.
    const key = decodeCursor(filter.cursor);
    const shape: ListShape = {
      visibility: viewer === null ? 'public' : viewer.role === 'admin' ? 'all' : 'own',
      author: filter.authorId !== undefined,
      published: filter.published === undefined ? 'any' : filter.published ? 'yes' : 'no',
      cursor: key !== undefined,
      skip: filter.skip > 0,
    };
    const { page, total } = listStatements(db, shape);
    const values = { viewer: viewer?.id ?? '', authorId: filter.authorId ?? '', ...pageValues(filter, key) };
    return toCountedPage(await page.execute(values), filter, async () => (await total.execute(values))[0].n);
  }

  const base = and(
    visibleTo(viewer, db.tables),
    filter.authorId === undefined ? undefined : eq(posts.authorId, filter.authorId),
    filter.published === undefined ? undefined : eq(posts.published, filter.published),
  );
  const select = <C extends SelectedFields>(columns: C) => db.orm.select(columns).from(posts).innerJoin(users, eq(users.id, posts.authorId));
  const newestFirst = [desc(posts.createdAt), desc(posts.id)];
  return searchNewestFirst(db, posts, base, db.postsSearch(filter.q), filter, {
    walked: (ids) => select(summaryColumns(db.tables)).where(inArray(posts.id, ids)).orderBy(...newestFirst),
    indexed: (ids, total) => select({ ...summaryColumns(db.tables), total }).where(inArray(posts.id, ids)).orderBy(...newestFirst),
  });
}

/**
 * The published filter as a constant of the statement (fixedValue): as a parameter, Postgres' plan without values
 * guessed half the posts published, dearer than its plans with the value, and so planned every run anew.
 */
const publishedIs = (posts: Tables['posts'], value: boolean): SQL => fixedValue(posts.published, value, [true, false]);

/** Which statement a list without `q` runs: who sees what, which filters it has, and whether it skips rows. */
type ListShape = { visibility: 'public' | 'own' | 'all'; author: boolean; published: 'any' | 'yes' | 'no'; cursor: boolean; skip: boolean };

/** The page and the capped total of a list of this shape, prepared once per database. */
function listStatements(db: Database, shape: ListShape) {
  const name = `posts_list_${shape.visibility}_${shape.author ? 'author' : 'any'}_${shape.published}_${shape.cursor ? 'after' : 'first'}_${shape.skip ? 'skip' : 'top'}`;
  const where = ({ posts }: Pick<Tables, 'posts'>) =>
    and(
      shape.visibility === 'all'
        ? undefined
        : shape.visibility === 'own'
          ? publishedOrBy(posts, sql.placeholder('viewer'))
          : publishedIs(posts, true),
      shape.author ? eq(posts.authorId, sql.placeholder('authorId')) : undefined,
      shape.published === 'any' ? undefined : publishedIs(posts, shape.published === 'yes'),
    );
  // Every row of this kept count matches the list when it has no author and no draft filter (a signed-in
  // reader's list adds their drafts to the published posts): past the cap, nothing is counted.
  const kept = shape.author || shape.published === 'no' ? null : db.keptCount(shape.visibility === 'all' && shape.published === 'any' ? 'posts' : 'posts.published');
  const page = db.prepared(`${name}_page`, (orm, tables) => {
    const { posts, users } = tables;
    const placeholders = pagePlaceholders(posts);
    const key = shape.cursor ? placeholders.key : undefined;
    const columns = { ...summaryColumns(tables), total: cappedCountColumn(orm, posts, where(tables), kept) };
    const select = orm.select(columns).from(posts).innerJoin(users, eq(users.id, posts.authorId));
    const newestFirst = [desc(posts.createdAt), desc(posts.id)];
    // Skipping, the page's ids come first (pageIds); else the walk down the index reads the page's rows and
    // their authors as it goes, and stops there (a third less than the ids first, then the rows, then a sort).
    if (shape.skip) return select.where(inArray(posts.id, pageIds(orm, posts, where(tables), key, placeholders.limit, placeholders.offset))).orderBy(...newestFirst);
    return select.where(and(where(tables), after(posts, key))).orderBy(...newestFirst).limit(placeholders.limit);
  });
  const total = db.prepared(`${name}_total`, (orm, tables) => cappedCountQuery(orm, tables.posts, where(tables), kept));
  return { page, total };
}
/** How many of a user's latest published posts the profile cache holds; requests take a prefix of them. */
export const PROFILE_POSTS_CACHED = 50;

/** The latest published posts of one author, without bodies (one query). */
export async function latestPublishedPosts(deps: Deps, authorId: string, limit: number) {
  const { posts } = deps.db.tables;
  return deps.db.orm
    .select({ id: posts.id, title: posts.title, published: posts.published, createdAt: posts.createdAt, updatedAt: posts.updatedAt })
    .from(posts)
    .where(and(eq(posts.authorId, authorId), eq(posts.published, true)))
    .orderBy(desc(posts.createdAt), desc(posts.id))
    .limit(limit);
}
