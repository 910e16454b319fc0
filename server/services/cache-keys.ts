// Cache keys per user: the public profile, and the profile with its latest published posts.
export const userCacheKeys = (userId: string) => ({ profile: `user:${userId}`, withPosts: `user-posts:${userId}` });

/** Everything cached about a user: what a change to the account itself invalidates. */
export const allUserCacheKeys = (userId: string): string[] => Object.values(userCacheKeys(userId));
